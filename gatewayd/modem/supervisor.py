"""One task per modem: open → initialise → identify (PIN, SIM) → serve (serving.py) → recover, forever.

Theory of operation: the supervisor's `run()` is the only task that talks to its modem, so commands on
one port are naturally sequential; URCs arrive through the driver callback into a queue and are served
between commands. A lost link (unplug) waits for the port with a growing backoff; a session that fails
otherwise (timeouts, a dead watchdog ping, a failed init) climbs the recovery ladder (recovery.py) up to
quarantine. Every wait also watches `stop`, so a bad modem never stalls the others or shutdown.
Everything the supervisor learns is published through `status` and the `GatewayRecorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from gatewayd.at import commands as at
from gatewayd.at.session import DEFAULT_LATE_RESPONSE_GRACE_S, AtSession, UnsolicitedResult
from gatewayd.clock import Clock
from gatewayd.hardware.matching import profile_for_model
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.driver import CommandRejected, CommandTimeout, LinkLost, ModemDriver, ModemError
from gatewayd.modem.inbox import Inbox
from gatewayd.modem.observer import ModemObserver, NullObserver
from gatewayd.modem.outbox import Outbox, OutboxWakeRoutes, SendPolicy
from gatewayd.modem.pin import unlock_sim
from gatewayd.modem.recovery import RecoveryLadder, reset_usb_device, usb_authorized_file
from gatewayd.modem.serving import ServeIntervals, SessionWork
from gatewayd.services.gateway import GatewayRecorder
from gatewayd.sms.pdu import StatusReport
from gatewayd.transport.serial import PortUnavailable, open_serial

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
PROBE_ATTEMPTS = 3  # "AT" tries at open: the first may meet a half-sent line or echo noise
PROBE_TIMEOUT_S = 2.0  # a live modem answers AT in milliseconds; a dead one must not cost minutes
RESET_SETTLE_S = 5.0  # after AT+CFUN=1,1 / AT^RESET the modem reboots; give it time before reopening
STATUS_HEARTBEAT_S = 300.0  # an unchanged modem status is still written this often (last_seen_at)
HEALTHY_AFTER_S = 120.0  # a session ready this long puts the modem back at the bottom of the ladder


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
    sim_pin: str | None = None  # for any SIM without an entry in sim_pins
    sim_pins: Mapping[str, str] = field(default_factory=dict)  # ICCID or port → PIN; the port wins
    # Known profiles, so the model's own AT+CGMM answer can refine the one the port was started with.
    profiles: Mapping[str, ModemProfile] = field(default_factory=dict)
    reassembly_timeout_s: float = 600.0
    expiry_check_s: float = 30.0
    # A lost `queued` event delays a send by at most this: the safety net, one read per registry
    # (OutboxWakeRoutes.check_every), not one per SIM.
    outbox_check_s: float = 30.0
    send_policy: SendPolicy = field(default_factory=SendPolicy)
    quarantine_s: float = 600.0
    # Recovery pacing (module defaults; tests shorten them): an AT probe's timeout, the pause after a reset
    # command while the modem reboots, and the pause before a closed port is reopened.
    probe_timeout_s: float = PROBE_TIMEOUT_S
    reset_settle_s: float = RESET_SETTLE_S
    reopen_wait_s: float = BACKOFF_MAX_S / 3
    late_response_grace_s: float = DEFAULT_LATE_RESPONSE_GRACE_S  # after a timeout (at/session.py)


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
        slot: str | None = None,
        wake_routes: OutboxWakeRoutes | None = None,
    ) -> None:
        self.port = port
        self.usb_path = usb_path  # stable identity of the USB port (udev ID_PATH), when known
        self.slot = slot  # the bank map's label of that USB port, when mapped
        self._observer = observer or NullObserver()
        self._profile = profile
        self._recorder = recorder
        self._clock = clock
        self._settings = settings
        self._urcs: asyncio.Queue[UnsolicitedResult] = asyncio.Queue()
        self._stopping = asyncio.Event()
        self.status = ModemStatus(port=port, since=clock.now())
        self.ready = asyncio.Event()  # set whenever a session reaches `ready`
        self._outbox_wake = asyncio.Event()
        # Shared with the registry, whose one bus listener routes `queued` events; None: a supervisor
        # driven on its own (tests, tools) listens for its SIM itself.
        self._wake_routes = wake_routes
        self._pin_rejected = False  # once rejected, never entered again by this process (PUK guard)
        self._ladder = RecoveryLadder(usb_reset_possible=usb_authorized_file(port) is not None)
        self._ready_since: float | None = None
        self._last_recorded: tuple[object, ...] | None = None  # the status row last written by _poll
        self._last_recorded_at = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        backoff = BACKOFF_INITIAL_S
        while not self._stopping.is_set():
            wait = backoff
            try:
                await self._session()
                backoff = BACKOFF_INITIAL_S
                wait = 0.0 if self.status.state not in ("no_sim", "pin_required", "pin_rejected") else wait
            except PortUnavailable as exc:
                self._set_state(exc.reason, str(exc))
                log.warning("%s: port unavailable (%s): %s", self.port, exc.reason, exc)
            except (LinkLost, ConnectionError, OSError) as exc:
                self._set_state("unplugged", str(exc))
                log.warning("%s: link lost: %s", self.port, exc)
            except ModemError as exc:
                self._set_state("error", str(exc))
                log.warning("%s: session ended: %s", self.port, exc)
                wait = await self._recover(str(exc))
                backoff = BACKOFF_INITIAL_S
            finally:
                self.ready.clear()
                await self._record_gone()
            if self._stopping.is_set():
                break
            await self._wait_or_stop(wait)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        self._set_state("stopped", "")

    async def _recover(self, reason: str) -> float:
        """Take the next rung of the ladder; returns how long to wait before the next session."""
        loop = asyncio.get_running_loop()
        if self._ready_since is not None and loop.time() - self._ready_since >= HEALTHY_AFTER_S:
            self._ladder.healthy()
        self._ready_since = None
        step = self._ladder.climb()
        self._count(f"recovery.{step}")
        self._observer.recovery(self.port, step, reason)
        if self.status.modem_id is not None:
            with contextlib.suppress(Exception):  # counting must not stop the recovery itself
                await self._recorder.recovery_step(self.status.modem_id, step, reason)
        log.warning("%s: recovery step %s after: %s", self.port, step, reason)
        if step == "reset":
            await self._send_reset()
            return self._settings.reset_settle_s
        if step == "reopen":
            return self._settings.reopen_wait_s
        if step == "usb_reset":
            done = await asyncio.to_thread(reset_usb_device, self.port)
            return self._settings.reset_settle_s if done else BACKOFF_MAX_S
        if step == "quarantine":
            self._set_state("quarantined", reason)
            self._ladder.healthy()
            return self._settings.quarantine_s
        return BACKOFF_INITIAL_S  # reinit: a fresh session re-runs every init command

    async def _send_reset(self) -> None:
        """Best effort: open the port, send the profile's reset command, close; the modem reboots."""
        with contextlib.suppress(ModemError, PortUnavailable, OSError, ConnectionError):
            async with self._open_driver() as (driver, _):
                with contextlib.suppress(CommandTimeout, CommandRejected):
                    await driver.run(self._profile.reset_command, self._settings.probe_timeout_s)

    async def _wait_or_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    # -- one session on an open port ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _open_driver(self) -> AsyncIterator[tuple[ModemDriver, asyncio.Future[None]]]:
        profile = self._profile
        session = AtSession(
            extra_urc_prefixes=profile.extra_urcs,
            ignored_urc_prefixes=profile.ignored_urcs,
            extra_final_ok=profile.extra_final_ok,
            extra_final_error=profile.extra_final_error,
            late_response_grace_s=self._settings.late_response_grace_s,
        )
        driver = ModemDriver(
            session,
            self._clock,
            on_unsolicited=self._urcs.put_nowait,
            on_noise=self._count,
            name=self.port,
            observer=self._observer,
        )
        port = await open_serial(self.port, driver, baudrate=self._settings.baudrate)
        try:
            yield driver, port.closed
        finally:
            port.close()

    async def _session(self) -> None:
        self._set_state("opening", "")
        async with self._open_driver() as (driver, closed):
            self._set_state("initializing", "")
            await self._initialise(driver)
            work = await self._identify(driver)
            if work is None:
                await self._wait_for_stop_or_close(closed, self._settings.poll_interval_s)
                return
            assert self.status.hosted_sim_id is not None
            await self._recorder.outbound.requeue_interrupted(self.status.hosted_sim_id)
            self._set_state("ready", "")
            self._ready_since = asyncio.get_running_loop().time()
            self.ready.set()
            async with self._routed_wake(self.status.hosted_sim_id):
                await work.serve(closed)

    @contextlib.asynccontextmanager
    async def _routed_wake(self, hosted_sim_id: int) -> AsyncIterator[None]:
        """While serving, a `queued` event for this SIM or the periodic check sets the outbox wake
        (the registry's shared routes, or our own when driven alone)."""
        routes, waker = self._wake_routes, None
        if routes is None:
            routes = OutboxWakeRoutes()
            # Owned here: cancelled and awaited when the session ends, whatever ends it.
            waker = asyncio.create_task(
                routes.run(self._recorder.outbound, self._settings.outbox_check_s, self._recorder.bus)
            )
        routes.attach(hosted_sim_id, self._outbox_wake)
        try:
            yield
        finally:
            routes.detach(hosted_sim_id, self._outbox_wake)
            if waker is not None:
                waker.cancel()
                await asyncio.gather(waker, return_exceptions=True)

    async def _initialise(self, driver: ModemDriver) -> None:
        timeout = self._profile.timeouts.default_s
        for attempt in range(PROBE_ATTEMPTS):
            try:
                await driver.run("AT", min(timeout, self._settings.probe_timeout_s))
                break
            except (CommandTimeout, CommandRejected):
                if attempt == PROBE_ATTEMPTS - 1:
                    raise
        for text in ("ATE0", "AT+CMEE=1", "AT+CMGF=0", *self._profile.init_commands):
            await driver.run(text, self._profile.timeouts.init_s)

    async def _identify(self, driver: ModemDriver) -> SessionWork | None:
        """Read who the modem and SIM are; register both. None when there is no usable SIM."""
        timeout = self._profile.timeouts.default_s
        manufacturer = at.parse_text_response(await driver.run("AT+CGMI", timeout)).value
        model = at.parse_text_response(await driver.run("AT+CGMM", timeout)).value
        self._refine_profile(model)
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
        pin = await unlock_sim(
            driver, self._profile, await self._configured_pin(driver), rejected_before=self._pin_rejected
        )
        await self._recorder.pin_state(modem_id, pin.state)
        if pin.state == "pin_rejected":
            self._pin_rejected = True
        if not pin.usable:
            self._set_state("no_sim" if pin.state == "no_sim" else pin.state, pin.detail)
            return None
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
            slot=self.slot,
        )
        self._update(iccid=iccid, hosted_sim_id=hosted_sim_id, operator=operator.name if operator else None)
        return self._work_for(driver, hosted_sim_id, iccid)

    def _refine_profile(self, model: str) -> None:
        """A shared USB id (Quectel EC25/EG25-G/EC20) or a USB-serial bridge says little: AT+CGMM decides."""
        refined = profile_for_model(self._settings.profiles, model, self._profile)
        if refined is not self._profile:
            # Takes effect for the rest of this session; the next session initialises with it throughout.
            log.info("%s: model %r: profile %s, not %s", self.port, model, refined.name, self._profile.name)
            self._profile = refined

    async def _configured_pin(self, driver: ModemDriver) -> str | None:
        """The PIN configured for this port, else for this SIM's ICCID (most modems read it while the SIM
        is locked; AT+CCID needs no PIN), else the default one."""
        pins = self._settings.sim_pins
        if self.port in pins:
            return pins[self.port]
        if pins:
            iccid = await self._read_iccid(driver)
            if iccid is not None and iccid in pins:
                return pins[iccid]
        return self._settings.sim_pin

    def _work_for(self, driver: ModemDriver, hosted_sim_id: int, iccid: str) -> SessionWork:
        settings, profile = self._settings, self._profile
        outbound = self._recorder.outbound

        async def on_report(report: StatusReport) -> None:
            await outbound.apply_status_report(hosted_sim_id, report.message_reference, report.status)

        inbox = Inbox(
            driver,
            self._recorder.store_received,
            hosted_sim_id=hosted_sim_id,
            sim_key=iccid,
            list_timeout_s=profile.timeouts.cmgl_s,
            command_timeout_s=profile.timeouts.default_s,
            on_status_report=on_report,
            name=self.port,
            clock=self._clock,
            observer=self._observer,
        )
        outbox = Outbox(
            driver,
            self._recorder.outbound,
            hosted_sim_id=hosted_sim_id,
            clock=self._clock,
            policy=settings.send_policy,
            cmgs_timeout_s=profile.timeouts.cmgs_s,
            name=self.port,
            observer=self._observer,
        )
        return SessionWork(
            driver,
            inbox,
            outbox,
            profile=profile,
            recorder=self._recorder,
            hosted_sim_id=hosted_sim_id,
            urcs=self._urcs,
            outbox_wake=self._outbox_wake,
            stopping=self._stopping,
            intervals=ServeIntervals(
                poll_s=min(settings.poll_interval_s, profile.watchdog_interval_s),
                sweep_s=settings.sweep_interval_s,
                expiry_s=min(settings.expiry_check_s, settings.reassembly_timeout_s / 4),
                reassembly_timeout_s=settings.reassembly_timeout_s,
            ),
            poll=lambda: self._poll(driver),
            count=self._count,
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

    # -- steady state (the loop itself is in serving.py) ---------------------------------------------
    async def _poll(self, driver: ModemDriver) -> None:
        try:  # one round trip for the three (V.250 §5.2.1 chaining); one by one if the chain is refused
            lines = await driver.run("AT+CSQ;+CREG?;+CPMS?", self._profile.timeouts.default_s)
            signal, registration = _parsed(at.parse_csq, lines), _parsed(at.parse_creg, lines)
            storage = _parsed(at.parse_cpms, lines)
        except CommandRejected:
            signal = await self._optional(driver, "AT+CSQ", at.parse_csq)
            registration = await self._optional(driver, "AT+CREG?", at.parse_creg)
            storage = await self._optional(driver, "AT+CPMS?", at.parse_cpms)
        self._update(
            signal_percent=signal.percent if signal else None,
            registration=registration.status_name if registration else None,
            storage_used=storage.receive.used if storage else None,
            storage_total=storage.receive.total if storage else None,
        )
        status = self.status
        if status.modem_id is None:
            return
        modem_id = status.modem_id
        recorded = (status.state, status.signal_percent, status.registration, status.operator,
                    status.storage_used, status.storage_total)  # fmt: skip
        now = asyncio.get_running_loop().time()
        # Write on a change, else as a heartbeat: an unchanged row every poll was most of an idle
        # bank's CPU (bench ingest, 128 modems).
        if recorded == self._last_recorded and now - self._last_recorded_at < STATUS_HEARTBEAT_S:
            return
        await self._recorder.modem_status(
            modem_id,
            state=status.state,
            signal_strength=status.signal_percent,
            registration=status.registration,
            operator=status.operator,
            storage_used=status.storage_used,
            storage_total=status.storage_total,
        )
        self._last_recorded, self._last_recorded_at = recorded, now

    async def _wait_for_stop_or_close(self, closed: asyncio.Future[None], seconds: float) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {stop, closed}
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    # -- status --------------------------------------------------------------------------------------
    async def _record_gone(self) -> None:
        self._last_recorded = None  # the next session's first poll writes its status whatever it is
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
        # An unchanged status stays the same object: the port report compares statuses by identity
        # (hotplug/manager.py), and a poll that learns nothing new is the common case.
        if all(getattr(self.status, name) == value for name, value in changes.items()):
            return
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]

    def _count(self, what: str) -> None:
        counters = dict(self.status.counters)
        counters[what] = counters.get(what, 0) + 1
        self.status = replace(self.status, counters=counters)


def _parsed(parse: Callable[[tuple[str, ...]], T], lines: tuple[str, ...]) -> T | None:
    try:
        return parse(lines)
    except at.AtParseError:
        return None
