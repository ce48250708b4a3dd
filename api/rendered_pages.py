"""The JSON bytes of message pages the service handed out recently, so a page served again from the
service's cache (gatewayd/services/page_cache.py) is not serialised again.

An entry is reused only for the very same page object (identity, not equality): a page the service read
anew is rendered anew. Bounded; no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from aiohttp import web

DEFAULT_MAX_BODIES = 1024


class RenderedPages:
    def __init__(self, max_bodies: int = DEFAULT_MAX_BODIES) -> None:
        self._max_bodies = max_bodies
        self._bodies: OrderedDict[tuple[int, str], tuple[object, bytes]] = OrderedDict()

    def get(self, sim_id: int, url: str, page: object) -> bytes | None:
        found = self._bodies.get((sim_id, url))
        if found is None or found[0] is not page:
            return None
        self._bodies.move_to_end((sim_id, url))
        return found[1]

    def put(self, sim_id: int, url: str, page: object, body: bytes) -> None:
        self._bodies[(sim_id, url)] = (page, body)
        self._bodies.move_to_end((sim_id, url))
        while len(self._bodies) > self._max_bodies:
            self._bodies.popitem(last=False)


RENDERED_PAGES: Final[web.AppKey[RenderedPages]] = web.AppKey("simrelay.rendered_pages")
