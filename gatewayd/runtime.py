"""Composition root: builds the engine, services, modem registry and web app, and owns every task.

Start order: migrate → services → event bus → workers → (simulated bank) → modems → HTTP. Stop order is the
reverse, so no supervisor writes into a closed engine and no request meets missing services. A role picks
the parts: `all` (`simrelay serve`), `gateway` (modems + heartbeat) or `api` (HTTP, workers, sweeps); on
PostgreSQL the event bus is LISTEN/NOTIFY so the parts may run in different processes. Nothing at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api import metrics as api_metrics
from api.app import create_app
from api.pusher import PusherServer, PusherSettings, Realtime
from api.pusher.hub import LocalHub
from api.pusher.relay import LocalPublisher, NotifyChannel, RelayedHub
from api.settings import ApiSettings
from api.websocket_config import WebsocketConfig, public_endpoint
from gatewayd.clock import Clock, SystemClock
from gatewayd.config import Settings, pin_table, public_base_url, realtime_credentials
from gatewayd.delivery.realtime import RealtimeFanout
from gatewayd.delivery.webhook_sender import WebhookPoster, WebhookSender, sender_settings
from gatewayd.errors import ConfigError, Conflict
from gatewayd.events import EventBus, LocalEventBus
from gatewayd.hardware.loader import ProfileError, load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.outbox import SendPolicy
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import SupervisorSettings
from gatewayd.rack import RackOperations
from gatewayd.services.audience import AudienceService
from gatewayd.services.container import Services, build_services
from gatewayd.services.device_views import ByosOptions
from gatewayd.services.hosts import HostService
from gatewayd.services.notifications import SmtpOptions
from gatewayd.services.webhooks import WebhookOptions, webhook_options
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from gatewayd.systemd import SystemdNotifier

if TYPE_CHECKING:
    from gatewayd.delivery.pg_notify import PgEventBus

log = logging.getLogger(__name__)

# SIGTERM to exit: HTTP drains, then supervisors finish their command in flight (registry.STOP_GRACE_S),
# all inside systemd's TimeoutStopSec=15; the issue asks for under 10 s.
HTTP_DRAIN_S = 2.0
SHUTDOWN_DEADLINE_S = 9.5

BUS_LISTEN_TIMEOUT_S = 10.0

Role = Literal["all", "gateway", "api"]

SIMULATION_ORG = "Simulation"
SIMULATION_ADMIN = "admin@simrelay.local"


def profiles_directory(settings: Settings) -> Path:
    if settings.gateway.profiles_dir:
        return Path(settings.gateway.profiles_dir)
    return shipped_hardware_directory() / "modems"


def supervisor_settings(settings: Settings, profiles: Mapping[str, ModemProfile]) -> SupervisorSettings:
    """[gateway] and [engine] as the modem supervisors take them (quota 0 = none, empty PIN = none)."""
    gateway, engine = settings.gateway, settings.engine
    return SupervisorSettings(
        baudrate=gateway.baudrate,
        poll_interval_s=gateway.poll_interval_s,
        sweep_interval_s=gateway.sweep_interval_s,
        sim_pin=engine.sim_pin or None,
        sim_pins=pin_table(engine),
        profiles=profiles,
        reassembly_timeout_s=engine.reassembly_timeout_s,
        send_policy=SendPolicy(
            min_interval_s=engine.send_min_interval_s,
            jitter_s=engine.send_jitter_s,
            hourly_quota=engine.send_hourly_quota or None,
            daily_quota=engine.send_daily_quota or None,
        ),
    )


def load_modem_profiles(settings: Settings) -> dict[str, ModemProfile]:
    """Profiles, with a bad file reported like any other configuration error (file and key)."""
    try:
        return load_profiles(profiles_directory(settings))
    except ProfileError as exc:
        raise ConfigError(exc.source, exc.key, exc.problem) from exc


@dataclass
class Running:
    """What a started runtime exposes to the CLI and to tests."""

    services: Services
    registry: ModemRegistry | None  # None in the `api` role
    base_url: str | None  # None in the `gateway` role
    control_url: str | None
    admin_api_key: str | None
    host_name: str | None = None  # the heartbeat name in the `all` and `gateway` roles


@dataclass(frozen=True)
class _GatewayPart:
    registry: ModemRegistry
    control_url: str | None
    admin_api_key: str | None


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, role: Role = "all") -> None:
        self.settings = settings
        self.role = role
        self.clock = clock or SystemClock()
        self.notifier = SystemdNotifier.from_environment()
        self.rack: RackOperations | None = None

    @property
    def drives_modems(self) -> bool:
        return self.role in ("all", "gateway")

    @property
    def serves_api(self) -> bool:
        return self.role in ("all", "api")

    @property
    def host_name(self) -> str:
        return self.settings.gateway.host_name or socket.gethostname()

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Running]:
        settings = self.settings
        await upgrade(settings.db.url)
        engine = create_engine(settings.db.url)
        sessions = session_factory(engine)
        pg_bus = pg_event_bus(settings.db.url, sessions)  # None on SQLite: the bus is in-process
        bus: EventBus = pg_bus if pg_bus is not None else LocalEventBus()
        webhooks = webhook_options(settings.webhooks)
        services = build_services(sessions, self.clock, bus=bus, webhooks=webhooks,
                                  lock_ttl_s=settings.locks.default_ttl_s, byos=byos_options(settings),
                                  smtp=smtp_options(settings), page_cache_ttl_s=settings.api.page_cache_ttl_s)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            # Built first: its hub registers a NOTIFY channel that the bus's connection must LISTEN to.
            realtime = build_realtime(settings, pg_bus) if self.serves_api else None
            if pg_bus is not None:  # listening before anything publishes or subscribes
                await _start_bus(stack, pg_bus)
            if realtime is not None:
                self._start_workers(stack, sessions, bus, services, realtime=realtime, webhooks=webhooks)
            gateway = await self._start_gateway(stack, engine, services) if self.drives_modems else None
            base_url = None
            if realtime is not None:
                runner = await self._start_http(services, realtime)
                stack.push_async_callback(runner.cleanup)
                base_url = public_base_url(settings)
            elif self.rack is not None and settings.gateway.metrics_listen:  # rack hosts are scraped too
                runner = await self._start_metrics_http()
                stack.push_async_callback(runner.cleanup)
            yield Running(
                services,
                gateway.registry if gateway else None,
                base_url,
                gateway.control_url if gateway else None,
                gateway.admin_api_key if gateway else None,
                self.host_name if gateway else None,
            )

    def _start_workers(
        self, stack: contextlib.AsyncExitStack, sessions: async_sessionmaker[AsyncSession], bus: EventBus,
        services: Services, *, realtime: Realtime, webhooks: WebhookOptions,
    ) -> None:
        """The API side's tasks: realtime feed, webhook worker, lock sweep, gateway-host sweep, and the
        event stream that keeps the message-page cache honest."""
        settings = self.settings
        pages = services.messages.follow_changes(bus)
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(pages, name="page-cache"))
        # The feed subscribes before any modem runs, so no event of this start is missed.
        hub = realtime.server.hub  # every API process gets every domain event: fan out here only
        publisher = LocalPublisher(hub) if isinstance(hub, RelayedHub) else hub
        fanout = RealtimeFanout(bus, AudienceService(sessions, self.clock), publisher)
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(fanout.run(), name="realtime"))
        sender = WebhookSender(sessions, self.clock, WebhookPoster(webhooks.policy),
                               services.webhooks.secret_box.open, sender_settings(settings.webhooks),
                               bus=bus)  # woken by the events that follow an outbox commit
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(sender.serve(), name="webhooks"))
        sweeper = services.locks.sweep_every(settings.locks.sweep_interval_s)
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(sweeper, name="lock-sweep"))
        offline = services.presence.sweep_every(settings.byos.sweep_interval_s)
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(offline, name="byos-offline-sweep"))
        hosts = HostService(sessions, self.clock).sweep_every(
            settings.gateway.heartbeat_interval_s, settings.gateway.host_stale_after_s)
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(hosts, name="host-sweep"))

    async def _start_gateway(
        self, stack: contextlib.AsyncExitStack, engine: AsyncEngine, services: Services
    ) -> _GatewayPart:
        """The gateway side: heartbeat, (simulated bank), modems; the demo account for a simulation."""
        settings = self.settings
        profiles = load_modem_profiles(settings)
        rack = RackOperations(settings, session_factory(engine), self.clock, notifier=self.notifier)
        rack.metrics.watch_byos(services.twilio.outcomes, services.presence.counts)
        registry = ModemRegistry(
            services.gateway,
            self.clock,
            supervisor_settings(settings, profiles),
            observer=rack.metrics.observer,
        )
        hosts, name = HostService(session_factory(engine), self.clock), self.host_name
        await hosts.started(name)
        stack.push_async_callback(hosts.stopped, name)  # after the supervisors took their SIMs offline
        beat = hosts.heartbeat_every(name, settings.gateway.heartbeat_interval_s, lambda: _serving(registry))
        stack.push_async_callback(_cancel_and_wait, asyncio.create_task(beat, name="heartbeat"))
        control_url, admin_key = None, None
        ports = list(settings.gateway.modems)
        if settings.simulate.count:
            control_url, simulated = await self._start_simulation(stack)
            ports.extend(simulated)
        stack.push_async_callback(registry.close)
        self.rack = rack  # static ports, then udev enumeration; returns once both are applied
        await stack.enter_async_context(rack.running(registry, profiles, ports))
        if settings.simulate.count:
            admin_key = await self._provision_simulation(services, registry)
        return _GatewayPart(registry, control_url, admin_key)

    async def _start_http(self, services: Services, realtime: Realtime) -> web.AppRunner:
        settings = self.settings
        app = create_app(
            services,
            ApiSettings(
                max_body_bytes=settings.api.max_body_bytes, public_base_url=public_base_url(settings),
                rate_limit_per_minute=settings.api.rate_limit_per_minute,
            ),
            realtime=realtime,
        )
        if self.rack is not None:
            api_metrics.install(app, self.rack.metrics)
        return await self._serve(app, settings.api.listen)

    async def _start_metrics_http(self) -> web.AppRunner:
        """`simrelay gateway` serves only `/metrics`, on `gateway.metrics_listen`, for Prometheus."""
        assert self.rack is not None
        app = web.Application()
        api_metrics.install(app, self.rack.metrics)
        return await self._serve(app, self.settings.gateway.metrics_listen)

    async def _serve(self, app: web.Application, listen: str) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=HTTP_DRAIN_S)
        await runner.setup()
        host, _, port = listen.rpartition(":")
        await web.TCPSite(runner, host.strip("[]"), int(port)).start()
        return runner

    async def _start_simulation(self, stack: contextlib.AsyncExitStack) -> tuple[str, list[str]]:
        from gatewayd.fakemodem.bank import FakeBank
        from gatewayd.fakemodem.control import start_control_server

        sim = self.settings.simulate
        bank = FakeBank(sim.count, Path(sim.directory))
        await bank.start()
        stack.push_async_callback(bank.close)
        host, _, port = sim.control.rpartition(":")
        control = await start_control_server(bank, host, int(port))
        stack.push_async_callback(control.close)
        return control.url, [str(modem.path) for modem in bank.modems]

    async def _provision_simulation(self, services: Services, registry: ModemRegistry) -> str:
        """A demo organisation owning every simulated SIM, and an API key with every permission."""
        admin = services.admin
        with contextlib.suppress(Conflict):  # a restart on the same database keeps the demo accounts
            await admin.create_organization(SIMULATION_ORG)
        with contextlib.suppress(Conflict):
            await admin.create_user(
                SIMULATION_ORG,
                email=SIMULATION_ADMIN,
                name="Simulation admin",
                password=secrets.token_urlsafe(24),  # nobody signs in as it; the API key is what is shown
                team=None,
            )
        async with asyncio.timeout(30):
            await asyncio.gather(*(supervisor.ready.wait() for supervisor in registry.supervisors()))
        await admin.assign_sims(org=SIMULATION_ORG, team=None, all_unassigned=True)
        _, plain = await admin.create_api_key(
            org=SIMULATION_ORG,
            user_email=SIMULATION_ADMIN,
            name="simulation",
            permissions=["numbers.read", "numbers.lock", "messages.read", "webhooks.receive"],
        )
        return plain


def byos_options(settings: Settings) -> ByosOptions:
    """[byos] → the devices service's options (empty strings mean "not configured")."""
    byos = settings.byos
    return ByosOptions(
        twilio_number=byos.twilio_number or None, twilio_auth_token=byos.twilio_auth_token or None,
        public_url=byos.public_url or None, heartbeat_interval_s=byos.heartbeat_interval_s,
        offline_after_s=byos.offline_after_s, doze_offline_after_s=byos.doze_offline_after_s,
        alert_after_missed=byos.alert_after_missed, sweep_interval_s=byos.sweep_interval_s)


def smtp_options(settings: Settings) -> SmtpOptions:
    smtp = settings.smtp
    return SmtpOptions(host=smtp.host or None, port=smtp.port, username=smtp.username or None,
                       password=smtp.password or None, sender=smtp.sender, starttls=smtp.starttls)


def pg_event_bus(url: str, sessions: async_sessionmaker[AsyncSession]) -> PgEventBus | None:
    """LISTEN/NOTIFY on PostgreSQL (gateway and API processes share events); None on SQLite, where the bus
    is in-process. Its module, and asyncpg with it (~4 MiB resident), is imported only on PostgreSQL."""
    if make_url(url).get_backend_name() != "postgresql":
        return None
    from gatewayd.delivery.pg_notify import PgEventBus

    return PgEventBus.for_url(url, sessions)


async def _start_bus(stack: contextlib.AsyncExitStack, bus: PgEventBus) -> None:
    stack.push_async_callback(_cancel_and_wait, asyncio.create_task(bus.run(), name="event-bus"))
    try:
        async with asyncio.timeout(BUS_LISTEN_TIMEOUT_S):
            await bus.listening.wait()
    except TimeoutError:
        raise ConfigError("db.url", "url", "LISTEN on the database did not start within "
                          f"{BUS_LISTEN_TIMEOUT_S:.0f} s (see the event bus warnings)") from None


def _serving(registry: ModemRegistry) -> list[int]:
    """The SIMs in ready modems: what the heartbeat reports."""
    return [status.hosted_sim_id for status in registry.statuses()
            if status.state == "ready" and status.hosted_sim_id is not None]


def build_realtime(settings: Settings, relay: NotifyChannel | None = None) -> Realtime:
    """The Pusher server; on PostgreSQL (`relay`: the LISTEN/NOTIFY bus) its hub relays client-published
    events to the other API hosts."""
    section = settings.realtime
    app_id, app_key, app_secret = realtime_credentials(section)
    pusher = PusherSettings(
        app_id=app_id, app_key=app_key, app_secret=app_secret, allowed_origins=section.allowed_origins,
        max_connections=section.max_connections, max_message_bytes=section.max_message_bytes,
        activity_timeout_s=section.activity_timeout_s, pong_timeout_s=section.activity_timeout_s,
        client_events=section.client_events,
    )
    endpoint = public_endpoint(public_base_url(settings), host=section.public_host, port=section.public_port,
                               scheme=section.scheme)
    hub = RelayedHub(relay) if relay is not None else LocalHub()
    return Realtime(PusherServer(pusher, hub), WebsocketConfig(app_key, endpoint))


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def serve_until_signalled(runtime: Runtime, *, json_output: bool = False) -> int:
    """Run until SIGINT/SIGTERM (then stop within SHUTDOWN_DEADLINE_S); SIGHUP reloads profiles and banks."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload_soon, runtime, reloads)
    notifier = runtime.notifier
    async with contextlib.AsyncExitStack() as lifetime:
        running = await lifetime.enter_async_context(runtime.started())
        banner = {
            "role": runtime.role,
            "listen": runtime.settings.api.listen if running.base_url else None,
            "base_url": running.base_url,
            "host_name": running.host_name,
            "modems": [status.port for status in running.registry.statuses()] if running.registry else [],
            "control_url": running.control_url,
            "admin_api_key": running.admin_api_key,
        }
        if json_output:
            print(json.dumps(banner), flush=True)
        else:
            if running.base_url:
                print(f"simrelay: API on {running.base_url}", flush=True)
            if running.host_name:
                print(f"simrelay: gateway host {running.host_name}", flush=True)
            for port in banner["modems"] or []:
                print(f"simrelay: driving modem {port}", flush=True)
            if running.control_url:
                print(f"simrelay: simulated bank control on {running.control_url}", flush=True)
            if running.admin_api_key:
                print(f"simrelay: admin API key {running.admin_api_key}", flush=True)
        notifier.ready(f"{runtime.role}: API on {running.base_url}, {len(banner['modems'])} modem ports")
        await stop.wait()
        print("simrelay: stopping", file=sys.stderr, flush=True)
        notifier.stopping("stopping: finishing commands in flight")
        for task in reloads:
            task.cancel()
        try:
            async with asyncio.timeout(SHUTDOWN_DEADLINE_S):
                await lifetime.aclose()
        except TimeoutError:
            log.error("shutdown took longer than %.1f s; exiting anyway", SHUTDOWN_DEADLINE_S)
            return 1
        finally:
            notifier.close()
    return 0


def _reload_soon(runtime: Runtime, reloads: set[asyncio.Task[bool]]) -> None:
    """SIGHUP handler: reload in a task (the handler itself must not await)."""
    if runtime.rack is None:
        return
    task = asyncio.get_running_loop().create_task(
        runtime.rack.reload(lambda: load_modem_profiles(runtime.settings)), name="reload")
    reloads.add(task)
    task.add_done_callback(reloads.discard)
