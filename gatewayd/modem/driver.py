"""The asyncio side of one AT session: one command in flight, per-command timeouts, URCs handed off.

Theory of operation: bytes from the port go into the sans-IO `AtSession`; its events either resolve the
future of the command in flight or are handed, without awaiting, to the `on_unsolicited` callback (the
supervisor queues them), so a URC flood never blocks a command and a command never swallows a URC. The
response future is registered before the command's bytes are written. A lost link fails the command in
flight and every later one at once, so no caller waits for a dead port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gatewayd.at.session import (
    AtCommand,
    AtSession,
    CommandCompleted,
    CommandFailed,
    CommandTimedOut,
    GarbageDiscarded,
    UnknownLine,
    UnsolicitedResult,
)
from gatewayd.clock import Clock
from gatewayd.errors import SimRelayError
from gatewayd.modem.observer import ModemObserver, NullObserver

log = logging.getLogger(__name__)

Write = Callable[[bytes], None]


def verb_of(text: str) -> str:
    """`AT+CMGR=3` → `AT+CMGR`, `AT+CREG?` → `AT+CREG`: a bounded label for metrics."""
    for index, char in enumerate(text):
        if char in "=?":
            return text[:index]
    return text


class ModemError(SimRelayError):
    """A command did not succeed; carries the command and what the modem said."""

    def __init__(self, command: AtCommand, message: str) -> None:
        super().__init__(f"{command.text}: {message}")
        self.command = command


class CommandRejected(ModemError):
    """The modem answered with ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, failure: CommandFailed) -> None:
        super().__init__(failure.command, failure.final)
        self.failure = failure
        self.cme = failure.cme
        self.cms = failure.cms


class CommandTimeout(ModemError):
    """No final result within the command's timeout."""

    def __init__(self, timed_out: CommandTimedOut) -> None:
        super().__init__(timed_out.command, f"no answer within {timed_out.command.timeout_s:g} s")
        self.partial_lines = timed_out.lines


class LinkLost(ModemError):
    """The port went away (unplug, EIO, closed) while or before the command ran."""


class ModemDriver:
    """Serialises commands on one port and routes everything the modem says."""

    def __init__(
        self,
        session: AtSession,
        clock: Clock,
        *,
        on_unsolicited: Callable[[UnsolicitedResult], None],
        on_noise: Callable[[str], None] | None = None,
        name: str = "modem",
        observer: ModemObserver | None = None,
    ) -> None:
        self._session = session
        self._clock = clock
        self._on_unsolicited = on_unsolicited
        self._on_noise = on_noise or (lambda kind: None)
        self._name = name
        self._observer = observer or NullObserver()
        self._write: Write | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[CommandCompleted] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost: BaseException | None = None
        self.timeouts_in_a_row = 0

    # -- link side -------------------------------------------------------------------------------
    def attach(self, write: Write) -> None:
        self._write = write
        self._lost = None

    def data_received(self, data: bytes) -> None:
        self._session.receive_data(data)
        self._flush()
        self._dispatch()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = exc or ConnectionResetError("port closed")
        self._write = None
        self._cancel_timer()
        if self._pending is not None and not self._pending.done():
            command = self._session.in_flight or AtCommand("?")
            self._pending.set_exception(LinkLost(command, f"link lost: {self._lost}"))

    @property
    def is_lost(self) -> bool:
        return self._lost is not None

    # -- command side ----------------------------------------------------------------------------
    async def execute(self, command: AtCommand) -> CommandCompleted:
        """Run one command; raises CommandRejected, CommandTimeout or LinkLost."""
        async with self._lock:
            if self._write is None or self._lost is not None:
                raise LinkLost(command, f"link lost: {self._lost}")
            loop = asyncio.get_running_loop()
            future: asyncio.Future[CommandCompleted] = loop.create_future()
            self._pending = future
            started = self._clock.monotonic()
            self._session.send(command, started)
            self._flush()
            self._arm_timer()
            outcome = "ok"
            try:
                result = await future
            except CommandRejected:
                outcome = "error"
                raise
            except CommandTimeout:
                outcome = "timeout"
                raise
            except LinkLost:
                outcome = "lost"
                raise
            finally:
                self._pending = None
                self._cancel_timer()
                elapsed = self._clock.monotonic() - started
                self._observer.command_finished(self._name, verb_of(command.text), elapsed, outcome)
            self.timeouts_in_a_row = 0
            return result

    async def run(self, text: str, timeout_s: float = 5.0) -> tuple[str, ...]:
        """Shorthand: run a plain command, return its response lines."""
        completed = await self.execute(AtCommand(text, timeout_s=timeout_s))
        return completed.lines

    # -- internals -------------------------------------------------------------------------------
    def _flush(self) -> None:
        data = self._session.data_to_send()
        if data and self._write is not None:
            self._write(data)

    def _arm_timer(self) -> None:
        self._cancel_timer()
        deadline = self._session.timer()
        if deadline is None:
            return
        delay = max(0.0, deadline - self._clock.monotonic())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        self._session.handle_timer(self._clock.monotonic())
        self._dispatch()
        if self._session.in_flight is not None:
            self._arm_timer()  # woke a little early: wait for the rest

    def _dispatch(self) -> None:
        while (event := self._session.next_event()) is not None:
            if isinstance(event, CommandCompleted):
                self._resolve(event, None)
            elif isinstance(event, CommandFailed):
                self._resolve(None, CommandRejected(event))
            elif isinstance(event, CommandTimedOut):
                self.timeouts_in_a_row += 1
                self._resolve(None, CommandTimeout(event))
            elif isinstance(event, UnsolicitedResult):
                self._observer.unsolicited(self._name, event.name)
                self._on_unsolicited(event)
            elif isinstance(event, UnknownLine):
                log.info("%s: unknown line %r", self._name, event.line)
                self._on_noise("unknown_line")
                self._observer.noise(self._name, "unknown_line")
            elif isinstance(event, GarbageDiscarded):
                log.info("%s: discarded %d garbage bytes", self._name, len(event.data))
                self._on_noise("garbage")
                self._observer.noise(self._name, "garbage")

    def _resolve(self, result: CommandCompleted | None, error: ModemError | None) -> None:
        future = self._pending
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None
            future.set_result(result)
