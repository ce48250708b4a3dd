"""Laravel's length-aware paginator envelope: `{data, meta{...}, links{first,last,prev,next}}`.

Pure arithmetic over (total, page, per_page, items on the page) plus URL building; no I/O, no services.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from yarl import URL

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageMeta:
    current_page: int
    per_page: int
    total: int
    last_page: int
    from_: int | None  # 1-based index of the first item shown; None on an empty page (Laravel's null)
    to: int | None


def page_meta(*, total: int, page: int, per_page: int, shown: int) -> PageMeta:
    """Numbers of a page, as Laravel's LengthAwarePaginator computes them (last_page is at least 1)."""
    if total < 0 or page < 1 or per_page < 1 or shown < 0:
        raise ValueError(f"impossible page: total={total} page={page} per_page={per_page} shown={shown}")
    last_page = max(1, -(-total // per_page))
    first_index = (page - 1) * per_page + 1
    return PageMeta(
        current_page=page,
        per_page=per_page,
        total=total,
        last_page=last_page,
        from_=first_index if shown else None,
        to=first_index + shown - 1 if shown else None,
    )


def page_links(meta: PageMeta, url: URL) -> dict[str, str | None]:
    """first/last/prev/next as absolute URLs that keep the caller's other query parameters."""

    def link(page: int) -> str:
        return str(url.update_query(page=str(page)))

    return {
        "first": link(1),
        "last": link(meta.last_page),
        "prev": link(meta.current_page - 1) if meta.current_page > 1 else None,
        "next": link(meta.current_page + 1) if meta.current_page < meta.last_page else None,
    }


def paginated_body(items: Sequence[T], serialize: Callable[[T], dict[str, Any]], *, total: int, page: int,
                   per_page: int, url: URL) -> dict[str, Any]:
    """The full envelope for one page of `items`."""
    meta = page_meta(total=total, page=page, per_page=per_page, shown=len(items))
    return {
        "data": [serialize(item) for item in items],
        "meta": {
            "current_page": meta.current_page,
            "per_page": meta.per_page,
            "total": meta.total,
            "last_page": meta.last_page,
            "from": meta.from_,
            "to": meta.to,
        },
        "links": page_links(meta, url),
    }


def public_url(request: web.Request, public_base_url: str | None) -> URL:
    """The URL the client used, on the public origin when one is configured (behind a proxy)."""
    if public_base_url is None:
        return request.url
    return URL(public_base_url).with_path(request.path).with_query(request.query)
