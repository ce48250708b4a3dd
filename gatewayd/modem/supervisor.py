"""One task per modem: open → initialise → identify → serve (URCs, polls, sweeps) → recover, forever.

Theory of operation: the supervisor's `run()` is the only task that talks to its modem, so commands on
one port are naturally sequential; URCs arrive through the driver callback into a queue and are served
between commands. A lost link or a streak of timeouts ends the session; the port is closed and reopened
after a backoff that grows, so a dead modem costs nothing and never stalls the others. Everything the
supervisor learns is published through `status` and the `GatewayRecorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from gatewayd.at import commands as at
from gatewayd.at.session import AtCommand, AtSession, UnsolicitedResult
from gatewayd.clock import Clock
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.driver import CommandRejected, CommandTimeout, LinkLost, ModemDriver, ModemError
from gatewayd.modem.inbox import Inbox
from gatewayd.modem.observer import ModemObserver, NullObserver
from gatewayd.services.gateway import GatewayRecorder
from gatewayd.transport.serial import PortUnavailable, open_serial

log = logging.getLogger(__name__)
T = TypeVar("T")

TIMEOUT_STREAK_LIMIT = 3  # consecutive timeouts that end a session (the port is reopened)
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
PROBE_ATTEMPTS = 5  # "AT" tries at open: the first may meet a half-sent line or echo noise


@dataclass(frozen=True)
class ModemStatus:
    port: str
    state: str = "starting"  # starting, initializing, ready, no_sim, busy, missing, unplugged, error, stopped
    detail: str = ""
    modem_id: int | None = None
    imei: str | None = None
    iccid: str | None = None
    hosted_sim_id: int | None = None
    signal_percent: int | None = None
    registration: str | None = None
    operator: str | None = None
    storage_used: int | None = None
    storage_total: int | None = None
    since: datetime | None = None
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SupervisorSettings:
    baudrate: int = 115200
    poll_interval_s: float = 30.0
    sweep_interval_s: float = 60.0


class ModemSupervisor:
    def __init__(
        self,
        port: str,
        profile: ModemProfile,
        recorder: GatewayRecorder,
        clock: Clock,
        settings: SupervisorSettings,
        *,
        usb_path: str | None = None,
        observer: ModemObserver | None = None,
    ) -> None:
        self.port = port
        self.usb_path = usb_path  # stable identity of the USB port (udev ID_PATH), when known
        self._observer = observer or NullObserver()
        self._profile = profile
        self._recorder = recorder
        self._clock = clock
        self._settings = settings
        self._urcs: asyncio.Queue[UnsolicitedResult] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self.status = ModemStatus(port=port, since=clock.now())
        self.ready = asyncio.Event()  # set whenever a session reaches `ready`

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = BACKOFF_INITIAL_S
        while not self._stopping.is_set():
            try:
                await self._session()
                backoff = BACKOFF_INITIAL_S
            except PortUnavailable as exc:
                self._set_state(exc.reason, str(exc))
                log.warning("%s: port unavailable (%s): %s", self.port, exc.reason, exc)
            except (LinkLost, ConnectionError, OSError) as exc:
                self._set_state("unplugged", str(exc))
                log.warning("%s: link lost: %s", self.port, exc)
            except ModemError as exc:
                self._set_state("error", str(exc))
                log.warning("%s: session ended: %s", self.port, exc)
            finally:
                self.ready.clear()
                await self._record_gone()
            if self._stopping.is_set():
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._stopping.wait()
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        self._set_state("stopped", "")

    # -- one session on an open port ---------------------------------------------------------------
    async def _session(self) -> None:
        profile = self._profile
        session = AtSession(
            extra_urc_prefixes=profile.extra_urcs,
            ignored_urc_prefixes=profile.ignored_urcs,
            extra_final_ok=profile.extra_final_ok,
            extra_final_error=profile.extra_final_error,
        )
        driver = ModemDriver(
            session,
            self._clock,
            on_unsolicited=self._urcs.put_nowait,
            on_noise=self._count,
            name=self.port,
            observer=self._observer,
        )
        self._set_state("opening", "")
        port = await open_serial(self.port, driver, baudrate=self._settings.baudrate)
        try:
            self._set_state("initializing", "")
            await self._initialise(driver)
            inbox = await self._identify(driver)
            if inbox is None:
                await self._wait_for_stop_or_close(port.closed, self._settings.poll_interval_s)
                return
            self._set_state("ready", "")
            self.ready.set()
            await inbox.sweep()
            await self._serve(driver, inbox, port.closed)
        finally:
            port.close()

    async def _initialise(self, driver: ModemDriver) -> None:
        timeout = self._profile.timeouts.default_s
        for attempt in range(PROBE_ATTEMPTS):
            try:
                await driver.run("AT", timeout)
                break
            except (CommandTimeout, CommandRejected):
                if attempt == PROBE_ATTEMPTS - 1:
                    raise
        for text in ("ATE0", "AT+CMEE=1", "AT+CMGF=0", *self._profile.init_commands):
            await driver.run(text, self._profile.timeouts.init_s)

    async def _identify(self, driver: ModemDriver) -> Inbox | None:
        """Read who the modem and SIM are; register both. None when there is no usable SIM."""
        timeout = self._profile.timeouts.default_s
        manufacturer = at.parse_text_response(await driver.run("AT+CGMI", timeout)).value
        model = at.parse_text_response(await driver.run("AT+CGMM", timeout)).value
        revision = at.parse_text_response(await driver.run("AT+CGMR", timeout)).value
        imei = at.parse_imei(await driver.run("AT+CGSN", timeout)).value
        modem_id = await self._recorder.modem_seen(
            imei=imei,
            port=self.port,
            usb_path=self.usb_path,
            manufacturer=manufacturer,
            model=model,
            revision=revision,
        )
        self._update(modem_id=modem_id, imei=imei)
        iccid = await self._read_iccid(driver)
        if iccid is None:
            self._set_state("no_sim", "no ICCID readable; is a SIM inserted?")
            return None
        imsi = await self._optional(driver, "AT+CIMI", at.parse_imsi)
        own_number = await self._optional(driver, "AT+CNUM", at.parse_cnum)
        operator = await self._optional(driver, "AT+COPS?", at.parse_cops)
        await driver.run(self._profile.storage_command, timeout)
        await driver.run(self._profile.new_message_indication, timeout)
        hosted_sim_id = await self._recorder.sim_seen(
            modem_id=modem_id,
            iccid=iccid,
            imsi=imsi.value if imsi else None,
            phone_number=own_number.number if own_number else None,
            operator=operator.name if operator else None,
        )
        self._update(iccid=iccid, hosted_sim_id=hosted_sim_id)
        return Inbox(
            driver,
            self._recorder.store_received,
            hosted_sim_id=hosted_sim_id,
            sim_key=iccid,
            list_timeout_s=self._profile.timeouts.cmgl_s,
            command_timeout_s=timeout,
            name=self.port,
        )

    async def _read_iccid(self, driver: ModemDriver) -> str | None:
        for text in self._profile.iccid_commands:
            try:
                return at.parse_iccid(await driver.run(text, self._profile.timeouts.default_s)).value
            except (CommandRejected, at.AtParseError):
                continue
        return None

    async def _optional(
        self, driver: ModemDriver, text: str, parse: Callable[[tuple[str, ...]], T]
    ) -> T | None:
        """Run a command whose answer is nice to have; a rejection or odd answer gives None."""
        try:
            return parse(await driver.run(text, self._profile.timeouts.default_s))
        except (CommandRejected, at.AtParseError):
            return None

    # -- steady state --------------------------------------------------------------------------------
    async def _serve(self, driver: ModemDriver, inbox: Inbox, closed: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        next_sweep = loop.time() + self._settings.sweep_interval_s
        while not self._stopping.is_set() and not closed.done():
            if driver.timeouts_in_a_row >= TIMEOUT_STREAK_LIMIT:
                raise ModemError(AtCommand("(watchdog)"), f"{driver.timeouts_in_a_row} timeouts in a row")
            now = loop.time()
            if now >= next_poll:
                await self._poll(driver)
                next_poll = now + self._settings.poll_interval_s
            if now >= next_sweep:
                await inbox.sweep()
                next_sweep = now + self._settings.sweep_interval_s
            indexes = await self._next_message_indexes(min(next_poll, next_sweep) - loop.time(), closed)
            if indexes:
                await inbox.read(indexes)
        if closed.done():
            raise LinkLost(AtCommand("(port)"), "port closed")

    async def _next_message_indexes(self, wait_s: float, closed: asyncio.Future[None]) -> list[int]:
        """Wait for URCs up to `wait_s`; return the storage indexes that new-message URCs named."""
        indexes: list[int] = []
        getter = asyncio.ensure_future(self._urcs.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait(
                {getter, stop, closed}, timeout=max(wait_s, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
            if not getter.done():
                getter.cancel()
        if getter.cancelled() or not getter.done():
            return indexes
        pending = [getter.result()]
        while not self._urcs.empty():  # coalesce a burst of +CMTI into one batch
            pending.append(self._urcs.get_nowait())
        for urc in pending:
            if urc.name == "+CMTI":
                indexes.append(at.parse_cmti(urc.line).index)
            else:
                self._count(f"urc{urc.name}")
        return indexes

    async def _poll(self, driver: ModemDriver) -> None:
        signal = await self._optional(driver, "AT+CSQ", at.parse_csq)
        registration = await self._optional(driver, "AT+CREG?", at.parse_creg)
        storage = await self._optional(driver, "AT+CPMS?", at.parse_cpms)
        self._update(
            signal_percent=signal.percent if signal else None,
            registration=registration.status_name if registration else None,
            storage_used=storage.receive.used if storage else None,
            storage_total=storage.receive.total if storage else None,
        )
        if self.status.modem_id is not None:
            await self._recorder.modem_status(
                self.status.modem_id,
                state=self.status.state,
                signal_strength=self.status.signal_percent,
                registration=self.status.registration,
                operator=self.status.operator,
                storage_used=self.status.storage_used,
                storage_total=self.status.storage_total,
            )

    async def _wait_for_stop_or_close(self, closed: asyncio.Future[None], seconds: float) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({stop, closed}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    # -- status --------------------------------------------------------------------------------------
    async def _record_gone(self) -> None:
        if self.status.modem_id is None:
            return
        try:
            await self._recorder.modem_gone(self.status.modem_id, state=self.status.state)
        except Exception:  # task boundary: recording must not kill the supervisor
            log.exception("%s: could not record the modem as gone", self.port)

    def _set_state(self, state: str, detail: str) -> None:
        if state != self.status.state:
            log.info("%s: %s %s", self.port, state, detail)
        self.status = replace(self.status, state=state, detail=detail, since=self._clock.now())

    def _update(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]

    def _count(self, what: str) -> None:
        counters = dict(self.status.counters)
        counters[what] = counters.get(what, 0) + 1
        self.status = replace(self.status, counters=counters)
