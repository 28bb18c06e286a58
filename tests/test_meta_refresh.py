"""QuickMetaRefreshMiddleware: the same redirects as Scrapy's MetaRefreshMiddleware, without
decoding pages that cannot hold a meta refresh."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from crawler.middlewares import QuickMetaRefreshMiddleware

URL = "https://news.example.org/a.html"
FILLER = "<p>" + "text " * 2000 + "</p>"


def _pages() -> list[tuple[str, bytes]]:
    refresh = '<meta http-equiv="Refresh" content="0; url=/b.html">'
    return [
        ("refresh", f"<html><head>{refresh}</head><body>{FILLER}</body></html>".encode()),
        ("upper", f"<html><head>{refresh.upper()}</head><body></body></html>".encode()),
        ("none", f"<html><head><title>t</title></head><body>{FILLER}</body></html>".encode()),
        ("late", f"<html><body>{FILLER * 3}{refresh}</body></html>".encode()),
        (
            "utf16",
            f"<html><head>{refresh}</head><body>x</body></html>".encode("utf-16"),
        ),
    ]


@pytest.mark.parametrize(("name", "body"), _pages())
def test_same_answer_as_scrapy(name: str, body: bytes) -> None:
    crawler = get_crawler()
    quick = QuickMetaRefreshMiddleware.from_crawler(crawler)
    plain = MetaRefreshMiddleware.from_crawler(crawler)
    headers = {"Content-Type": "text/html; charset=utf-16"} if name == "utf16" else {}

    def answer(middleware: MetaRefreshMiddleware) -> str:
        request = Request(URL)
        response = HtmlResponse(URL, body=body, headers=headers, request=request)
        result = middleware.process_response(request, response)
        return result.url if isinstance(result, Request) else "response"

    expected = answer(plain)
    assert answer(quick) == expected
    if name in ("refresh", "upper", "utf16"):
        assert expected.lower() == "https://news.example.org/b.html"
    else:
        assert expected == "response"
