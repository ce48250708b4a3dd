"""Reading a SIM's messages, newest first, for a caller allowed to see that SIM.

Writing inbound messages is the gateway's job (services/gateway.py); this module only reads.
"""

from __future__ import annotations

import base64

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gatewayd.errors import ValidationFailed
from gatewayd.services.sims import require_visible_sim
from gatewayd.services.views import MessageView, Page, Principal
from gatewayd.store.engine import read_transaction
from gatewayd.store.models import Message
from gatewayd.store.repositories import messages as message_queries

MAX_PER_PAGE = 100


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


class MessageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def page_for(
        self, principal: Principal, sim_id: int, *, page: int, per_page: int
    ) -> Page[MessageView]:
        """One page of the SIM's messages, newest first; NotFound for a SIM the caller cannot see."""
        if page < 1:
            raise ValidationFailed({"page": [f"The page must be at least 1 (got {page})."]})
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValidationFailed(
                {"per_page": [f"The per page must be between 1 and {MAX_PER_PAGE} (got {per_page})."]}
            )
        async with read_transaction(self._sessions) as session:
            await require_visible_sim(session, principal, sim_id)
            total = await message_queries.count_for_sim(session, sim_id)
            rows = await message_queries.page_for_sim(
                session, sim_id, offset=(page - 1) * per_page, limit=per_page
            )
        return Page(items=[message_view(m) for m in rows], total=total, page=page, per_page=per_page)
