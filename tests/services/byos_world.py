"""A BYOS world for service tests: the real services over a migrated database, an OAuth principal obtained
through the real grant code, a device registered and verified through the services, and a real SMTP server
(aiosmtpd) that can be told to refuse the next messages with a 451."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from gatewayd.clock import ManualClock
from gatewayd.events import LocalEventBus
from gatewayd.services.container import Services, build_services
from gatewayd.services.device_views import ByosOptions, DeviceView
from gatewayd.services.notifications import SmtpOptions
from gatewayd.services.views import Principal
from tests.services.conftest import Stack
from tests.services.world import Org, oauth_tokens, organization
from tests.system.conftest import free_port

TWILIO_NUMBER = "+12025551234"
TWILIO_TOKEN = "twilio-auth-token-for-service-tests"
SIM_NUMBER = "+14155550123"


@dataclass
class Mailbox:
    """aiosmtpd handler: answers `451` to the next `refuse` messages, accepts the rest."""

    refuse: int = 0
    accepted: list[bytes] = field(default_factory=list)
    refused: int = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        self.accepted.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"



@dataclass
class Byos:
    services: Services
    clock: ManualClock
    bus: LocalEventBus
    mailbox: Mailbox
    org: Org
    stack: Stack

    async def oauth_principal(self, email: str | None = None) -> Principal:
        """A byos-scoped OAuth principal of a new token family (a new sign-in of the same user)."""
        return await oauth_principal(self.services, email or f"owner@{self.org.name}.example")

    async def register(
        self, principal: Principal, *, android_id: str = "a1b2c3d4e5f67890", slots: tuple[int, ...] = (1,)
    ) -> DeviceView:
        return await self.services.devices.register(
            principal,
            android_id=android_id,
            sim_slots=slots,
            device_model="SM-S921B",
            app_version="1.2.3",
            device_name="Work Phone",
        )

    async def verified_device(self, principal: Principal, android_id: str = "a1b2c3d4e5f67890") -> DeviceView:
        """Registered, its slot-1 code verified, one heartbeat: active and online."""
        device = await self.register(principal, android_id=android_id)
        outcome = await self.services.sim_cards.verify_code(device.pending[0].verification_code, SIM_NUMBER)
        assert outcome == "verified"
        await self.heartbeat(principal, device.id)
        return await self.services.devices.get(principal, device.id)

    async def heartbeat(self, principal: Principal, device_id: int, *, doze: bool = False) -> int:
        return await self.services.presence.heartbeat(
            principal,
            device_id,
            battery_level=80,
            signal_strength=70,
            is_in_doze_mode=doze,
            sim_signals=(),
        )


async def oauth_principal(services: Services, email: str) -> Principal:
    access, _, _ = await oauth_tokens(services, email, "byos")
    principal = await services.auth.authenticate(access)
    assert principal is not None and principal.auth_type == "oauth"
    return principal


@asynccontextmanager
async def open_byos(stack: Stack) -> AsyncIterator[Byos]:
    """The world on the `stack` fixture's database; each test module's `byos` fixture enters it."""
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    await asyncio.to_thread(smtp.start)  # starts its own thread and waits for it: not on the loop
    bus = LocalEventBus()
    services = build_services(
        stack.sessions,
        stack.clock,
        bus=bus,
        byos=ByosOptions(twilio_number=TWILIO_NUMBER, twilio_auth_token=TWILIO_TOKEN),
        smtp=SmtpOptions(host="127.0.0.1", port=smtp.port, timeout_s=10.0),
    )
    try:
        org = await organization(services, "acme", team="ops")
        yield Byos(services, stack.clock, bus, mailbox, org, stack)
    finally:
        await asyncio.to_thread(smtp.stop)
