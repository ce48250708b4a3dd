"""The Twilio verification webhook's use case: check X-Twilio-Signature with Twilio's own RequestValidator,
find the `SR-XXXX` code in the body, and let the devices service activate that SIM card.

Idempotent on MessageSid (Twilio retries, sometimes concurrently): the MessageSid row is inserted in the
same transaction that activates the card, so of two racing calls one commits and the other hits the primary
key and changes nothing. Unknown and expired codes are logged and counted, never told to the sender.
No HTTP here: the API passes the URL, the form and the header.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Mapping

import phonenumbers
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from gatewayd.clock import Clock
from gatewayd.services.sim_cards import VERIFICATION_ALPHABET, SimCardService, Verification
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
        sim_cards: SimCardService,
        *,
        auth_token: str | None,
        public_url: str | None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sim_cards = sim_cards
        self._validator = RequestValidator(auth_token) if auth_token else None
        self.public_url = public_url.rstrip("/") if public_url else None
        # verified, unknown_code, expired_code, no_code, bad_sender, duplicate, bad_signature
        self.outcomes: Counter[str] = Counter()

    def signature_valid(self, url: str, form: Mapping[str, str], signature: str | None) -> bool:
        """Twilio's HMAC-SHA1 over the URL Twilio called and every posted parameter; False without a token."""
        valid = (
            self._validator is not None
            and bool(signature)
            and bool(self._validator.validate(url, dict(form), signature))
        )
        if not valid:
            self.outcomes["bad_signature"] += 1
        return valid

    async def receive(self, form: Mapping[str, str]) -> str:
        """Handle one verified webhook call; returns the outcome word (also counted in `outcomes`)."""
        sid = (form.get("MessageSid") or form.get("SmsSid") or "")[:64]
        if sid and await self._seen(sid):
            return self._count("duplicate", form)
        code, number = code_in(form.get("Body", "")), e164(form.get("From", ""))
        claimed = not sid
        try:
            async with write_transaction(self._sessions) as session:
                if sid:  # claimed first: a concurrent twin blocks here, then fails on the primary key
                    claim = TwilioInbound(message_sid=sid, outcome="pending", received_at=self._clock.now())
                    session.add(claim)
                    await session.flush()
                    claimed = True
                verification = await self._verify(session, code, number)
                if sid:
                    claim.outcome, claim.sim_card_id = verification.outcome, verification.sim_card_id
        except IntegrityError:
            if claimed:  # not the MessageSid: a real fault, with its evidence
                raise
            return self._count("duplicate", form)
        self._sim_cards.announce(verification)
        return self._count(verification.outcome, form)

    async def _seen(self, sid: str) -> bool:
        async with read_transaction(self._sessions) as session:
            return await session.get(TwilioInbound, sid) is not None

    async def _verify(self, session: AsyncSession, code: str | None, number: str | None) -> Verification:
        if code is None:
            return Verification("no_code")
        if number is None:
            return Verification("bad_sender")
        return await self._sim_cards.verify_in(session, code, number)

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
