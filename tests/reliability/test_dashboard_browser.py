"""Script and markup in article fields, checked in a real browser (issue 6).

A real ``feedmill serve`` serves a store holding articles whose every field carries
script, event handlers and ``javascript:`` URLs, a source and service whose titles do, and
a failed run whose error does. Debian's Chromium (through Playwright) loads the
dashboard, each article page and the feeds (rendered by the XSL stylesheet). Each page
is loaded twice: as served, and with the Content-Security-Policy bypassed, so that the
escaping alone has to keep the scripts from running. No dialog may open, the
``window.__pwned`` flag that every payload would set stays unset, no element carries an
``on*`` handler and no link's href uses the ``javascript:`` scheme.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeds.article import Article, RelatedLink, article_id
from feeds.store import SQLiteStore

from serve_helper import Service, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PWN = "window.__pwned=(window.__pwned||[]).concat"


def payloads(tag: str) -> list[str]:
    """Markup that runs script (sets window.__pwned, or opens a dialog) if unescaped."""
    return [
        f"<script>{PWN}('{tag}-script')</script>",
        f"<img src=x onerror=\"{PWN}('{tag}-img')\">",
        f"<svg onload=\"{PWN}('{tag}-svg')\"></svg>",
        f"\"><script>alert('{tag}-attr')</script>",
        f"'><img src=x onerror=alert('{tag}-sq')>",
        f"</title><script>{PWN}('{tag}-title')</script>",
        f"</textarea></style><script>{PWN}('{tag}-close')</script>",
        f"<iframe srcdoc=\"<script>parent.__pwned='{tag}-srcdoc'</script>\"></iframe>",
        f"<a href=\"javascript:{PWN}('{tag}-a')\">click</a>",
        f"<noscript><p title=\"</noscript><img src=x onerror=alert('{tag}-mxss')>\"></noscript>",
        f"<math><mtext><table><mglyph><style><img src=x onerror=alert('{tag}-math')>",
        f"<details open ontoggle=\"{PWN}('{tag}-toggle')\">",
        f"<body onload=\"{PWN}('{tag}-body')\">",
        f"<meta http-equiv=refresh content=\"0;url=javascript:alert('{tag}-meta')\">",
    ]


def hostile_text(tag: str) -> str:
    return " ".join(payloads(tag))


JS_URLS = [
    "javascript:alert('related')",
    " JaVaScRiPt:alert('related-case')",
    "java\tscript:alert('related-tab')",
    "&#106;avascript:alert('related-entity')",
    "javascript&colon;alert('related-colon')",
    "data:text/html,<script>alert('related-data')</script>",
    "vbscript:msgbox('related-vb')",
]


def toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


SOURCE_LINK = "https://evil.example/x?a=\"><img/src=x/onerror=alert('source-link')>"

CONFIG = f"""\
[service]
base_url = "http://127.0.0.1:8080"
title = {toml(hostile_text("service"))}
description = {toml(hostile_text("service-description"))}

[sources.evil]
kind = "files"
path = "evil-docs"
title = {toml(hostile_text("source"))}
# javascript: links are refused by the config itself (tests/reliability/test_config_errors.py);
# an http link can still carry markup that must stay an attribute value.
link = {toml(SOURCE_LINK)}
description = {toml(hostile_text("source-description"))}
"""


def hostile_articles() -> list[Article]:
    body_html = (
        "<p>正文</p>"
        + "".join(payloads("body"))
        + "".join(f'<a href="{url}">bad {n}</a>' for n, url in enumerate(JS_URLS))
        + '<a href="https://good.example/">good link</a>'
        + f'<p onclick="{PWN}(\'body-p\')" style="background:url(javascript:alert(1))">p</p>'
        + "<form action=\"javascript:alert('form')\"><button>go</button></form>"
        + "<object data=\"javascript:alert('object')\"></object>"
    )
    first = Article(
        source="evil",
        key="html.txt",
        id=article_id("evil", "html.txt"),
        title=hostile_text("title"),
        url="javascript:alert('article-url')",
        authors=[hostile_text("author"), "<b>李四</b>"],
        agency=hostile_text("agency"),
        publisher=hostile_text("publisher"),
        published=datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
        language="zh-CN\" onmouseover=\"alert('lang')",
        summary=hostile_text("summary"),
        body_text=hostile_text("body-text"),
        body_html=body_html,
        rights=hostile_text("rights"),
        categories=[hostile_text("category")],
        related=[
            *(RelatedLink(hostile_text(f"related-{n}"), url) for n, url in enumerate(JS_URLS)),
            RelatedLink(hostile_text("related-good"), "https://related.example/story"),
        ],
    )
    second = Article(  # no body HTML: the page is made from the body text
        source="evil",
        key="text.txt",
        id=article_id("evil", "text.txt"),
        title=hostile_text("title2"),
        url="https://evil.example/\"><script>alert('url-break')</script>",
        authors=[hostile_text("author2")],
        published=datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
        language="en",
        body_text=hostile_text("body-text2") + "\nsecond line " + hostile_text("line2"),
    )
    return [first, second]


def need_chromium() -> None:
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Service, list[Article]]]:
    (tmp_path / "evil-docs").mkdir()
    (tmp_path / "feedmill.toml").write_text(CONFIG, encoding="utf-8")
    articles = hostile_articles()
    with SQLiteStore.in_data_dir(tmp_path / "var") as store:
        for article in articles:
            store.upsert(article)
        run = store.start_run("evil", trigger="schedule")
        store.finish_run(run, "failed", error=hostile_text("run-error"))
    service = Service(tmp_path, free_port())
    try:
        service.wait_ready()
        yield service, articles
    finally:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
            try:
                service.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait(timeout=10)


CHECK_PAGE = """() => {
    const handlers = [];
    for (const element of document.querySelectorAll('*')) {
        for (const attribute of element.attributes) {
            if (attribute.name.toLowerCase().startsWith('on')) {
                handlers.push(element.tagName + ' ' + attribute.name);
            }
        }
    }
    const badLinks = [];
    for (const element of document.querySelectorAll('[href], [src], [action], [data]')) {
        for (const name of ['href', 'src', 'action', 'data']) {
            const value = element.getAttribute(name);
            if (value === null) continue;
            const compact = value.replace(/[\\u0000-\\u0020\\u007f]/g, '').toLowerCase();
            if (/^(javascript|vbscript|data:text)/.test(compact)) {
                badLinks.push(element.tagName + ' ' + name + '=' + value);
            }
        }
    }
    return {
        pwned: window.__pwned === undefined ? null : String(window.__pwned),
        scripts: document.querySelectorAll('script').length,
        iframes: document.querySelectorAll('iframe, object, embed, frame').length,
        handlers: handlers,
        badLinks: badLinks,
        text: document.body ? document.body.innerText : '',
    };
}"""


def test_hostile_article_fields_are_inert_in_the_browser(
    served: tuple[Service, list[Article]], tmp_path: Path
) -> None:
    need_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    service, articles = served
    pages = ["/", *(f"/articles/{a.id}" for a in articles)]
    feeds = ["/feeds/evil.rss", "/feeds/evil.atom", "/feeds/all.rss"]
    dialogs: list[str] = []
    results: dict[tuple[bool, str], dict] = {}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            timeout=60_000,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            for bypass_csp in (False, True):
                context = browser.new_context(bypass_csp=bypass_csp)
                context.set_default_timeout(20_000)
                # Only the service itself: a payload must not be able to reach out either.
                context.route(
                    "**/*",
                    lambda route: (
                        route.continue_()
                        if route.request.url.startswith(service.base)
                        else route.abort()
                    ),
                )
                try:
                    page = context.new_page()
                    page.on(
                        "dialog",
                        lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()),
                    )
                    for path in pages + feeds:
                        response = page.goto(service.base + path, wait_until="load")
                        assert response is not None and response.status == 200, path
                        page.wait_for_timeout(300)  # let any onload/onerror fire
                        results[(bypass_csp, path)] = page.evaluate(CHECK_PAGE)
                        if not bypass_csp and path.startswith("/articles/"):
                            page.screenshot(path=str(tmp_path / f"{path[10:18]}.png"))
                finally:
                    context.close()
        finally:
            browser.close()
    assert dialogs == []
    for (bypass_csp, path), found in results.items():
        where = f"{path} (CSP {'bypassed' if bypass_csp else 'on'})"
        assert found["pwned"] is None, (where, found["pwned"])
        assert found["scripts"] == 0, where
        assert found["iframes"] == 0, where
        assert found["handlers"] == [], (where, found["handlers"])
        assert found["badLinks"] == [], (where, found["badLinks"])
    # The markup is shown as text where the page shows the field.
    dashboard = results[(True, "/")]["text"]
    assert "<script>window.__pwned" in dashboard  # the source's title, as text
    for article in articles:
        text = results[(True, f"/articles/{article.id}")]["text"]
        assert f"<script>{PWN}('title" in text
        assert "<img src=x onerror=" in text
