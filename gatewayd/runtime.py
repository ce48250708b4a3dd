"""Composition root: builds the engine, services, modem registry and web app, and owns every task.

Start order: migrate → services → (simulated bank) → modems → HTTP. Stop order is the reverse, so no
supervisor writes into a closed engine and no request meets missing services. Nothing is built at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from api import metrics as api_metrics
from api.app import create_app
from api.pusher import PusherServer, PusherSettings, Realtime
from api.pusher.hub import LocalHub
from api.settings import ApiSettings
from api.websocket_config import WebsocketConfig, public_endpoint
from gatewayd.clock import Clock, SystemClock
from gatewayd.config import Settings, public_base_url, realtime_credentials
from gatewayd.delivery.realtime import RealtimeFanout
from gatewayd.delivery.webhook_sender import WebhookPoster, WebhookSender, sender_settings
from gatewayd.errors import ConfigError, Conflict
from gatewayd.events import LocalEventBus
from gatewayd.hardware.loader import ProfileError, load_profiles, shipped_hardware_directory
from gatewayd.hardware.profile import ModemProfile
from gatewayd.modem.registry import ModemRegistry
from gatewayd.modem.supervisor import SupervisorSettings
from gatewayd.rack import RackOperations
from gatewayd.services.audience import AudienceService
from gatewayd.services.container import Services, build_services
from gatewayd.services.webhooks import webhook_options
from gatewayd.store.engine import create_engine, session_factory
from gatewayd.store.migrate import upgrade
from gatewayd.systemd import SystemdNotifier

log = logging.getLogger(__name__)

# SIGTERM to exit: HTTP drains, then supervisors finish their command in flight (registry.STOP_GRACE_S),
# all inside systemd's TimeoutStopSec=15; the issue asks for under 10 s.
HTTP_DRAIN_S = 2.0
SHUTDOWN_DEADLINE_S = 9.5

SIMULATION_ORG = "Simulation"
SIMULATION_ADMIN = "admin@simrelay.local"


def profiles_directory(settings: Settings) -> Path:
    if settings.gateway.profiles_dir:
        return Path(settings.gateway.profiles_dir)
    return shipped_hardware_directory() / "modems"


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
    registry: ModemRegistry
    base_url: str
    control_url: str | None
    admin_api_key: str | None


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.notifier = SystemdNotifier.from_environment()
        self.rack: RackOperations | None = None

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Running]:
        settings = self.settings
        await upgrade(settings.db.url)
        engine = create_engine(settings.db.url)
        sessions, bus = session_factory(engine), LocalEventBus()
        webhooks = webhook_options(settings.webhooks)
        services = build_services(sessions, self.clock, bus=bus, webhooks=webhooks,
                                  lock_ttl_s=settings.locks.default_ttl_s)
        realtime = build_realtime(settings)
        profiles = load_modem_profiles(settings)
        rack = RackOperations(settings, session_factory(engine), self.clock, notifier=self.notifier)
        registry = ModemRegistry(
            services.gateway,
            self.clock,
            SupervisorSettings(
                baudrate=settings.gateway.baudrate,
                poll_interval_s=settings.gateway.poll_interval_s,
                sweep_interval_s=settings.gateway.sweep_interval_s,
            ),
            observer=rack.metrics.observer,
        )
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(engine.dispose)
            # The feed subscribes before any modem runs, so no event of this start is missed.
            fanout = RealtimeFanout(bus, AudienceService(sessions, self.clock), realtime.server.hub)
            stack.push_async_callback(_cancel_and_wait, asyncio.create_task(fanout.run(), name="realtime"))
            sender = WebhookSender(sessions, self.clock, WebhookPoster(webhooks.policy),
                                   services.webhooks.secret_box.open, sender_settings(settings.webhooks),
                                   bus=bus)  # woken by the events that follow an outbox commit
            stack.push_async_callback(_cancel_and_wait, asyncio.create_task(sender.serve(), name="webhooks"))
            sweeper = services.locks.sweep_every(settings.locks.sweep_interval_s)
            stack.push_async_callback(_cancel_and_wait, asyncio.create_task(sweeper, name="lock-sweep"))
            control_url, admin_key = None, None
            ports = list(settings.gateway.modems)
            if settings.simulate.count:
                control_url, simulated = await self._start_simulation(stack)
                ports.extend(simulated)
            stack.push_async_callback(registry.close)
            self.rack = rack  # static ports, then udev enumeration; returns once both are applied
            await stack.enter_async_context(rack.running(registry, profiles, ports))
            runner = await self._start_http(services, realtime)
            stack.push_async_callback(runner.cleanup)
            if settings.simulate.count:
                admin_key = await self._provision_simulation(services, registry)
            yield Running(services, registry, public_base_url(settings), control_url, admin_key)

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
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=HTTP_DRAIN_S)
        await runner.setup()
        host, _, port = settings.api.listen.rpartition(":")
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


def build_realtime(settings: Settings) -> Realtime:
    """The Pusher server over an in-process hub (a LISTEN/NOTIFY hub slots in here for many API hosts)."""
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
    return Realtime(PusherServer(pusher, LocalHub()), WebsocketConfig(app_key, endpoint))


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
            "listen": runtime.settings.api.listen,
            "base_url": running.base_url,
            "modems": [status.port for status in running.registry.statuses()],
            "control_url": running.control_url,
            "admin_api_key": running.admin_api_key,
        }
        if json_output:
            print(json.dumps(banner), flush=True)
        else:
            print(f"simrelay: API on {running.base_url}", flush=True)
            for port in banner["modems"] or []:
                print(f"simrelay: driving modem {port}", flush=True)
            if running.control_url:
                print(f"simrelay: simulated bank control on {running.control_url}", flush=True)
            if running.admin_api_key:
                print(f"simrelay: admin API key {running.admin_api_key}", flush=True)
        notifier.ready(f"API on {running.base_url}, {len(banner['modems'] or [])} modem ports")
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
