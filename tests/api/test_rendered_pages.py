"""RenderedPages reuses bytes only for the very same page object and stays bounded."""

from __future__ import annotations

from api.rendered_pages import RenderedPages


class Page:  # any object: identity is what counts
    pass


def test_bytes_are_reused_only_for_the_same_page_object() -> None:
    rendered = RenderedPages()
    page, newer = Page(), Page()
    rendered.put(1, "http://x/api/sims/1/messages", page, b"old")
    assert rendered.get(1, "http://x/api/sims/1/messages", page) == b"old"
    assert rendered.get(1, "http://x/api/sims/1/messages", newer) is None
    assert rendered.get(1, "http://x/api/sims/1/messages?page=2", page) is None
    assert rendered.get(2, "http://x/api/sims/1/messages", page) is None


def test_the_least_recently_used_body_goes_first() -> None:
    rendered = RenderedPages(max_bodies=2)
    pages = [Page() for _ in range(3)]
    rendered.put(1, "a", pages[0], b"a")
    rendered.put(1, "b", pages[1], b"b")
    assert rendered.get(1, "a", pages[0]) == b"a"
    rendered.put(1, "c", pages[2], b"c")
    assert [rendered.get(1, url, page) for url, page in zip("abc", pages, strict=True)] == [b"a", None, b"c"]
