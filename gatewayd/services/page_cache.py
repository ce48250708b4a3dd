"""Recently read message pages, kept until the SIM's next change event (or a short lifetime at most).

API clients that wait for a code poll the same page of the same SIM again and again, and between two
polls nothing has usually changed: every read went through the database (~5 ms of event-loop time on
SQLAlchemy async) to return the same rows. This keeps each page read, with the lock state read in the same
snapshot, until an event says the SIM changed: a message received or changing status, a lock taken,
extended or ended, a BYOS device's SIMs changing. Nothing here does I/O; `follow` consumes the event bus.

Correctness rules:
- A page is cached only while `follow` runs (the runtime starts it with the bus every writer publishes
  on: the process itself on SQLite, LISTEN/NOTIFY on PostgreSQL). Without it every read goes to the store.
- A read remembers the SIM's generation *before* it queries; an event in the meantime bumps the
  generation and the entry is born stale. An event can never be missed that way, only a read wasted.
- A change is seen once its event has been applied: a loop turn after the commit in the process that
  made it, the LISTEN/NOTIFY delay in the others (the same window the realtime feed has).
- Events are best-effort (a bus that overflowed, a LISTEN connection that was down): an overflow clears
  everything, and `ttl_s` bounds how long a page can outlive a lost event.
- Who may see a SIM (organisation, team) has no events; a positive answer is remembered for `ttl_s`,
  like the principal cache of services/auth.py. A refusal is never cached.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from gatewayd.clock import Clock
from gatewayd.events import (
    DeviceStatusChanged,
    DomainEvent,
    EventBus,
    MessageReceived,
    MessageStatusChanged,
    SimLocked,
    SimUnlocked,
)
from gatewayd.store.repositories.locks import LockRow

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 5.0
DEFAULT_MAX_PAGES = 4096
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CachedPage(Generic[T]):
    """One page as the store returned it, and the SIM's live lock in the same snapshot."""

    page: T
    lock: LockRow | None
    generation: int
    born: float  # clock.monotonic() when read


@dataclass(frozen=True, slots=True)
class _PageKey:
    sim_id: int
    page: int
    per_page: int


def sims_touched_by(event: DomainEvent) -> tuple[int, ...]:
    """The SIMs whose pages or lock an event changes (a message without a SIM changes none)."""
    match event:
        case MessageReceived(hosted_sim_id=sim_id) | SimLocked(hosted_sim_id=sim_id) | \
                SimUnlocked(hosted_sim_id=sim_id):
            return (sim_id,)
        case MessageStatusChanged(hosted_sim_id=sim_id):
            return (sim_id,) if sim_id is not None else ()
        case DeviceStatusChanged(hosted_sim_ids=sim_ids):
            return sim_ids
    return ()


class MessagePageCache(Generic[T]):
    def __init__(self, clock: Clock, *, ttl_s: float = DEFAULT_TTL_S,
                 max_pages: int = DEFAULT_MAX_PAGES) -> None:
        if ttl_s < 0 or max_pages < 1:
            raise ValueError(f"page cache: ttl_s must be >= 0 and max_pages >= 1, got {ttl_s}, {max_pages}")
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_pages = max_pages
        self._pages: OrderedDict[_PageKey, CachedPage[T]] = OrderedDict()
        self._generations: dict[int, int] = {}
        self._visible: dict[tuple[int, int | None, int], float] = {}  # (org, user or None, sim) → seen at
        self._following = 0
        self.hits = 0
        self.misses = 0

    @property
    def active(self) -> bool:
        """Pages are kept only while an event stream keeps them honest, and only with a lifetime."""
        return self._following > 0 and self._ttl_s > 0

    def generation(self, sim_id: int) -> int:
        return self._generations.get(sim_id, 0)

    def get(self, sim_id: int, page: int, per_page: int) -> CachedPage[T] | None:
        if not self.active:
            return None
        key = _PageKey(sim_id, page, per_page)
        cached = self._pages.get(key)
        if cached is None or cached.generation != self.generation(sim_id) or self._aged(cached.born):
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return cached

    def put(self, sim_id: int, page: int, per_page: int, *, generation: int, value: T,
            lock: LockRow | None) -> None:
        """Keep a page read from the store; `generation` is the one taken before the read began."""
        if not self.active or generation != self.generation(sim_id):
            return  # changed while we read: the next read fetches again
        key = _PageKey(sim_id, page, per_page)
        self._pages[key] = CachedPage(value, lock, generation, self._clock.monotonic())
        self._pages.move_to_end(key)
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)

    def seen_visible(self, organization_id: int, user_id: int | None, sim_id: int) -> bool:
        seen = self._visible.get((organization_id, user_id, sim_id))
        return seen is not None and self.active and not self._aged(seen)

    def note_visible(self, organization_id: int, user_id: int | None, sim_id: int) -> None:
        if self.active:
            if len(self._visible) >= self._max_pages:
                self._visible.clear()  # a bound, not an LRU: visibility is one cheap read to relearn
            self._visible[(organization_id, user_id, sim_id)] = self._clock.monotonic()

    def changed(self, sim_id: int) -> None:
        """The SIM's pages and lock are stale from now on (its entries age out of the LRU)."""
        self._generations[sim_id] = self.generation(sim_id) + 1

    def clear(self) -> None:
        """Forget everything: events may have been lost."""
        for sim_id in list(self._generations):
            self.changed(sim_id)
        self._pages.clear()
        self._visible.clear()

    async def follow(self, bus: EventBus) -> None:
        """Keep the cache honest with `bus` until cancelled; pages are cached only while this runs."""
        subscription = bus.subscribe()
        self._following += 1
        try:
            async for event in subscription:
                if subscription.overflowed:
                    log.warning("page cache: the event bus dropped events; forgetting every cached page")
                    subscription.overflowed = False
                    self.clear()
                for sim_id in sims_touched_by(event):
                    self.changed(sim_id)
        finally:
            self._following -= 1
            subscription.close()
            self.clear()

    def _aged(self, born: float) -> bool:
        return self._clock.monotonic() - born >= self._ttl_s
