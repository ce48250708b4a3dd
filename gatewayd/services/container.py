"""Builds every service from one session factory and one clock; the composition root calls this once.

No service is a singleton: tests build their own container over their own database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.events import EventBus, LocalEventBus
from gatewayd.services.accounts import AccountService
from gatewayd.services.admin import AdminService
from gatewayd.services.api_keys import ApiKeyService
from gatewayd.services.auth import AuthService
from gatewayd.services.device_presence import DevicePresence
from gatewayd.services.device_views import ByosOptions
from gatewayd.services.devices import DeviceService
from gatewayd.services.gateway import GatewayRecorder
from gatewayd.services.health import HealthService
from gatewayd.services.locks import DEFAULT_LOCK_TTL_S, LockService
from gatewayd.services.messages import MessageService
from gatewayd.services.notifications import OfflineNotifier, SmtpOptions
from gatewayd.services.oauth import OAuthService
from gatewayd.services.outbound import OutboundService
from gatewayd.services.page_cache import DEFAULT_TTL_S, MessagePageCache
from gatewayd.services.sim_cards import SimCardService
from gatewayd.services.sims import SimService
from gatewayd.services.throttle import LoginThrottle
from gatewayd.services.twilio import TwilioService
from gatewayd.services.webhooks import WebhookOptions, WebhookService, build_webhook_service


@dataclass(frozen=True)
class Services:
    auth: AuthService
    accounts: AccountService
    sims: SimService
    messages: MessageService
    health: HealthService
    gateway: GatewayRecorder
    admin: AdminService
    webhooks: WebhookService
    outbound: OutboundService
    locks: LockService
    api_keys: ApiKeyService
    oauth: OAuthService
    devices: DeviceService
    sim_cards: SimCardService
    presence: DevicePresence
    twilio: TwilioService


def build_services(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, *, bus: EventBus | None = None,
    lock_ttl_s: int = DEFAULT_LOCK_TTL_S, webhooks: WebhookOptions | None = None,
    byos: ByosOptions | None = None, smtp: SmtpOptions | None = None, page_cache_ttl_s: float = DEFAULT_TTL_S,
) -> Services:
    # Without a bus (tests, admin CLI) events go to a private bus that nobody listens to.
    events = bus if bus is not None else LocalEventBus()
    gateway = GatewayRecorder(sessions, clock, bus=bus)
    login_throttle = LoginThrottle(clock)  # one budget per email and address, whatever the door
    auth = AuthService(sessions, clock, throttle=login_throttle)
    byos = byos if byos is not None else ByosOptions()
    sim_cards = SimCardService(sessions, clock, events, byos)
    return Services(
        auth=auth,
        accounts=AccountService(sessions, clock, auth.pending_api_key_use),
        sims=SimService(sessions, clock),
        messages=MessageService(sessions, clock, events, MessagePageCache(clock, ttl_s=page_cache_ttl_s)),
        health=HealthService(sessions),
        gateway=gateway,
        admin=AdminService(sessions, clock),
        webhooks=build_webhook_service(sessions, clock, webhooks),
        locks=LockService(sessions, clock, events, lock_ttl_s),
        api_keys=ApiKeyService(sessions, clock, auth),
        outbound=gateway.outbound,
        oauth=OAuthService(sessions, clock, auth, throttle=login_throttle),
        devices=DeviceService(sessions, clock, events, gateway=gateway, options=byos),
        sim_cards=sim_cards,
        presence=DevicePresence(sessions, clock, events, byos,
                                OfflineNotifier(smtp if smtp is not None else SmtpOptions())),
        twilio=TwilioService(sessions, clock, sim_cards, auth_token=byos.twilio_auth_token,
                             public_url=byos.public_url),
    )
