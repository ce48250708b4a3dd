"""A SIM's messages for a caller allowed to see it: the newest-first page, and queueing an outbound SMS.

Writing inbound messages is the gateway's job (services/gateway.py); sending is the modem engine's (it
claims the `queued` rows written here). This module never talks to a modem.
"""

from __future__ import annotations

import base64
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.clock import Clock
from gatewayd.errors import Conflict, NotFound, ValidationFailed
from gatewayd.events import EventBus, MessageStatusChanged
from gatewayd.services.locks import held_by_other, live_lock_for
from gatewayd.services.page_cache import MessagePageCache
from gatewayd.services.sims import require_visible_sim
from gatewayd.services.views import MessageView, Page, Principal
from gatewayd.sms.segments import choose_encoding, segment_count
from gatewayd.store.engine import read_transaction, write_transaction
from gatewayd.store.models import Message
from gatewayd.store.repositories import messages as message_queries

MAX_PER_PAGE = 100
MAX_TEXT_CHARS = 1600
MAX_SEGMENTS = 10


def e164(number: str, field: str = "to") -> str:
    """`number` in E.164 (`+` and digits) when it is a valid phone number; ValidationFailed otherwise."""
    problem = [f"The {field} field must be a valid phone number in E.164 format (e.g. +14155551234)."]
    if not number.startswith("+"):
        raise ValidationFailed({field: problem})
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed({field: problem}) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed({field: problem})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def checked_segments(text: str, field: str = "text") -> int:
    """SMS parts our own codec will send `text` in; ValidationFailed past MAX_SEGMENTS or unencodable."""
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise ValidationFailed({field: [f"The {field} field must be 1 to {MAX_TEXT_CHARS} characters."]})
    try:
        count = segment_count(text)
    except ValueError as exc:  # e.g. a lone surrogate cannot be encoded as UCS-2
        raise ValidationFailed({field: [f"The {field} field cannot be sent as SMS: {exc}"]}) from exc
    if count > MAX_SEGMENTS:
        raise ValidationFailed({field: [
            f"The {field} field needs {count} SMS segments; at most {MAX_SEGMENTS} are allowed."]})
    return count


def message_view(message: Message) -> MessageView:
    return MessageView(
        id=message.id,
        hosted_sim_id=message.hosted_sim_id,
        direction=message.direction,
        sender=message.sender,
        recipient=message.recipient,
        text=message.text,
        received_at=message.received_at,
        sent_at=message.sent_at,
        status=message.status,
        segments=message.segments,
        created_at=message.created_at,
        encoding=message.encoding,
        data_base64=base64.b64encode(message.data).decode("ascii") if message.data is not None else None,
    )


def message_view_of_row(row: tuple[Any, ...]) -> MessageView:
    """A view from a row of repositories.messages.PAGE_COLUMNS (the page path skips the ORM)."""
    (id_, sim_id, direction, sender, recipient, text, received_at, sent_at, status, segments, created_at,
     encoding, data) = row
    return MessageView(id=id_, hosted_sim_id=sim_id, direction=direction, sender=sender, recipient=recipient,
                       text=text, received_at=received_at, sent_at=sent_at, status=status, segments=segments,
                       created_at=created_at, encoding=encoding,
                       data_base64=base64.b64encode(data).decode("ascii") if data is not None else None)


class MessageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, bus: EventBus,
                 pages: MessagePageCache[Page[MessageView]] | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._bus = bus
        # Inactive until the runtime runs `follow_changes` (pages.follow) with the bus writers publish on.
        self.pages = pages if pages is not None else MessagePageCache(clock)

    async def follow_changes(self, bus: EventBus) -> None:
        """Serve repeated page reads from memory while this runs (services/page_cache.py)."""
        await self.pages.follow(bus)

    async def page_for(
        self, principal: Principal, sim_id: int, *, page: int, per_page: int
    ) -> Page[MessageView]:
        """One page of the SIM's messages, newest first; NotFound for a SIM the caller cannot see,
        Conflict while another user holds the SIM's lock (their conversation is theirs)."""
        if page < 1:
            raise ValidationFailed({"page": [f"The page must be at least 1 (got {page})."]})
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValidationFailed(
                {"per_page": [f"The per page must be between 1 and {MAX_PER_PAGE} (got {per_page})."]}
            )
        user_id = None if principal.auth_type == "api_key" else principal.user_id  # keys see the org
        org_id = principal.organization_id
        if self.pages.seen_visible(org_id, user_id, sim_id):
            cached = self.pages.get(sim_id, page, per_page)
            if cached is not None:
                lock = cached.lock  # as read with the rows; a lock past its expires_at is over
                if lock is not None and lock.user_id != principal.user_id and \
                        lock.expires_at > self._clock.now():
                    raise held_by_other(lock)
                return cached.page
        generation = self.pages.generation(sim_id)  # before the read: a change during it is not missed
        async with read_transaction(self._sessions) as session:
            head = await message_queries.page_head(session, sim_id, organization_id=org_id,
                                                   user_id=user_id, now=self._clock.now())
            if not head.visible:
                raise NotFound(f"No hosted SIM {sim_id}.")
            self.pages.note_visible(org_id, user_id, sim_id)
            if head.lock is not None and head.lock.user_id != principal.user_id:
                raise held_by_other(head.lock)
            rows = await message_queries.page_rows(session, sim_id, offset=(page - 1) * per_page,
                                                   limit=per_page)
        result = Page(items=[message_view_of_row(row) for row in rows], total=head.total, page=page,
                      per_page=per_page)
        self.pages.put(sim_id, page, per_page, generation=generation, value=result, lock=head.lock)
        return result

    async def send(self, principal: Principal, sim_id: int, *, to: str, text: str) -> MessageView:
        """Queue an SMS for the gateway that owns the SIM; the caller must hold the SIM's live lock.

        Order of refusals: NotFound (invisible SIM), ValidationFailed (input, or a SIM that cannot send),
        Conflict (lock not held by the caller).
        """
        recipient = e164(to)
        segments = checked_segments(text)
        now = self._clock.now()
        async with write_transaction(self._sessions) as session:
            visible = await require_visible_sim(session, principal, sim_id)
            if visible.sim.type != "physical":
                raise ValidationFailed({"hosted_sim": [
                    f"SIM {sim_id} is a {visible.sim.type} SIM and cannot send messages."]})
            lock = await live_lock_for(session, principal, sim_id, now)
            if lock is None:
                raise Conflict("Lock the SIM before sending through it (POST /api/sims/{id}/lock).")
            if lock.user_id != principal.user_id:
                raise held_by_other(lock)
            message = Message(hosted_sim_id=sim_id, direction="outbound", sender=visible.sim.phone_number,
                              recipient=recipient, text=text, encoding=choose_encoding(text).value,
                              status="queued", segments=segments, created_at=now)
            session.add(message)
            await session.flush()
        self._bus.publish(MessageStatusChanged(message.id, sim_id, "queued", None))
        return message_view(message)
