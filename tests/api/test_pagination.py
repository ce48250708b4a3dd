"""Laravel paginator arithmetic and links, on edge pages and as properties over any page."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from api.pagination import page_links, page_meta, paginated_body

BASE = URL("https://gw.example/api/sims/3/messages?per_page=10")


def body(total: int, page: int, per_page: int = 10) -> dict[str, object]:
    shown = max(0, min(per_page, total - (page - 1) * per_page))
    return paginated_body(list(range(shown)), lambda n: {"n": n}, total=total, page=page, per_page=per_page,
                          url=BASE.update_query(page=str(page)))


def test_empty_result_is_one_empty_page() -> None:
    envelope = body(total=0, page=1)
    assert envelope["data"] == []
    assert envelope["meta"] == {"current_page": 1, "per_page": 10, "total": 0, "last_page": 1,
                                "from": None, "to": None}
    assert envelope["links"] == {"first": "https://gw.example/api/sims/3/messages?per_page=10&page=1",
                                 "last": "https://gw.example/api/sims/3/messages?per_page=10&page=1",
                                 "prev": None, "next": None}


def test_first_middle_and_last_page() -> None:
    first, middle, last = body(25, 1), body(25, 2), body(25, 3)
    assert (first["meta"]["from"], first["meta"]["to"], first["meta"]["last_page"]) == (1, 10, 3)  # type: ignore[index]
    assert first["links"]["prev"] is None  # type: ignore[index]
    assert first["links"]["next"].endswith("page=2")  # type: ignore[index]
    assert (middle["meta"]["from"], middle["meta"]["to"]) == (11, 20)  # type: ignore[index]
    assert (last["meta"]["from"], last["meta"]["to"]) == (21, 25)  # type: ignore[index]
    assert last["links"]["next"] is None  # type: ignore[index]
    assert last["links"]["prev"].endswith("page=2")  # type: ignore[index]


def test_exact_multiple_has_no_extra_page() -> None:
    assert body(20, 2)["meta"]["last_page"] == 2  # type: ignore[index]
    assert body(20, 2)["links"]["next"] is None  # type: ignore[index]


def test_page_past_the_end_is_empty_and_points_back() -> None:
    envelope = body(25, 9)
    assert envelope["data"] == []
    assert envelope["meta"]["from"] is None and envelope["meta"]["to"] is None  # type: ignore[index]
    assert envelope["links"]["prev"].endswith("page=8")  # type: ignore[index]
    assert envelope["links"]["next"] is None  # type: ignore[index]


def test_impossible_inputs_are_refused_with_evidence() -> None:
    with pytest.raises(ValueError, match="page=0"):
        page_meta(total=1, page=0, per_page=10, shown=0)


# No deadline: the runtime grows with total/per_page, and CI shares two cores with other suites.
@settings(deadline=None)
@given(total=st.integers(0, 1_000), per_page=st.integers(1, 100))
def test_pages_cover_every_item_exactly_once(total: int, per_page: int) -> None:
    last_page = page_meta(total=total, page=1, per_page=per_page, shown=min(total, per_page)).last_page
    covered: list[int] = []
    for page in range(1, last_page + 1):
        shown = max(0, min(per_page, total - (page - 1) * per_page))
        meta = page_meta(total=total, page=page, per_page=per_page, shown=shown)
        assert meta.last_page == last_page
        if meta.from_ is not None and meta.to is not None:
            covered.extend(range(meta.from_, meta.to + 1))
        links = page_links(meta, BASE)
        assert (links["next"] is None) == (page == last_page)
        assert (links["prev"] is None) == (page == 1)
    assert covered == list(range(1, total + 1))
