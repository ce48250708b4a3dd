"""The Twilio verification webhook's use case: check X-Twilio-Signature with Twilio's own RequestValidator,
find the `SR-XXXX` code in the body, and let the devices service activate that SIM card.

Idempotent on MessageSid (Twilio retries). Unknown and expired codes are logged and counted, never told
to the sender. No HTTP here: the API passes the URL, the form and the header.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from gatewayd.clock import Clock
from gatewayd.services.devices import VERIFICATION_ALPHABET, DeviceService
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models_byos import TwilioInbound

log = logging.getLogger(__name__)

_CODE = re.compile(rf"\bSR-?([{VERIFICATION_ALPHABET}]{{4}})\b", re.IGNORECASE)


def code_in(body: str) -> str | None:
    """The first `SR-XXXX` in an SMS body, normalised to upper case (users type `sr-a2b3` or `SR A2B3`)."""
    match = _CODE.search(body.replace(" ", "-").upper())
    return f"SR-{match.group(1).upper()}" if match else None


def e164(number: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class TwilioService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        devices: DeviceService,
        *,
        auth_token: str | None,
        public_url: str | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._devices = devices
        self._validator = RequestValidator(auth_token) if auth_token else None
        self.public_url = public_url.rstrip("/") if public_url else None
        self.outcomes: Counter[str] = Counter()  # verified, unknown_code, expired_code, no_code, duplicate

    def signature_valid(self, url: str, form: Mapping[str, str], signature: str | None) -> bool:
        """Twilio's HMAC-SHA1 over the URL Twilio called and every posted parameter; False without a token."""
        if self._validator is None or not signature:
            return False
        return bool(self._validator.validate(url, dict(form), signature))

    async def receive(self, form: Mapping[str, str]) -> str:
        """Handle one verified webhook call; returns the outcome word (also counted in `outcomes`)."""
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        async with read_transaction(self._sessions) as session:
            seen = await session.get(TwilioInbound, sid) if sid else None
        if seen is not None:
            return self._count("duplicate", form)
        code, number = code_in(form.get("Body", "")), e164(form.get("From", ""))
        if code is None or number is None:
            outcome = "no_code" if code is None else "bad_sender"
        else:
            outcome = await self._devices.verify_code(code, number)
        if sid:
            await self._remember(sid, outcome)
        return self._count(outcome, form)

    async def _remember(self, sid: str, outcome: str) -> None:
        async with write_transaction(self._sessions) as session:
            if await session.get(TwilioInbound, sid) is None:
                now = self._clock.now()
                session.add(TwilioInbound(message_sid=sid[:64], outcome=outcome, received_at=now))

    def _count(self, outcome: str, form: Mapping[str, str]) -> str:
        self.outcomes[outcome] += 1
        if outcome != "verified":
            log.info(
                "twilio webhook %s: %s from %r body %r",
                form.get("MessageSid"),
                outcome,
                form.get("From"),
                form.get("Body", "")[:40],
            )
        return outcome
