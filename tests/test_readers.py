"""What people see: the dashboard in a real headless Chromium, the feeds in newsboat.

Both programs come from Debian (`.ci/run` installs them). Outside CI a machine without
them skips these tests; in CI a missing program is a failure, not a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_helper import Service, free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE_TITLE = "<script>alert('title')</script>危险标题<img src=x onerror=alert(1)>"


def need(program: str) -> None:
    if shutil.which(program) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed (.ci/run installs it)")
        pytest.skip(f"{program} is not installed")


@pytest.fixture
def running(project: Path) -> Iterator[Service]:
    hostile = f"{HOSTILE_TITLE}\n本报讯(记者 <b>张三</b>)3月1日,正文<script>alert(2)</script>。\n"
    (project / "seeds" / "hostile.txt").write_text(hostile, encoding="utf-8")
    config = project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('every = "1h"', 'every = "2s"'),
        encoding="utf-8",
    )
    service = Service(project, free_port())
    try:
        service.wait_ready()
        service.wait_for(
            lambda: (service.sources()["seeds"].get("last_run") or {}).get("outcome") == "ok",
            what="the first run",
        )
        yield service
    finally:
        service.stop(9)


def test_dashboard_in_a_real_browser(running: Service, tmp_path: Path) -> None:
    need("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
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
            page = browser.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(running.base + "/")
            assert "seeds" in page.locator("body").inner_text()
            alternates = page.locator("link[rel=alternate]")
            types = {alternates.nth(i).get_attribute("type") for i in range(alternates.count())}
            assert types == {"application/rss+xml", "application/atom+xml", "application/feed+json"}
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            # A feed link opens as a readable page (the XSL stylesheet), not raw XML.
            page.locator("a[href='/feeds/seeds.rss']").first.click()
            page.wait_for_load_state()
            text = page.locator("body").inner_text()
            assert "2022年全国12355青少年服务台工作推进会召开" in text
            # Hostile article fields render as text; no script of theirs runs.
            for href in _article_links(running):
                page.goto(running.base + href)
                page.wait_for_load_state()
                if "危险标题" in page.locator("body").inner_text():
                    assert "<script>alert('title')</script>" in page.locator("h1").inner_text()
                    page.screenshot(path=str(tmp_path / "article.png"), full_page=True)
                    break
            else:
                pytest.fail("the hostile article's page was not found")
        finally:
            browser.close()
    assert dialogs == []


def _article_links(service: Service) -> list[str]:
    body = service.get("/feeds/seeds.json")[2].decode()
    return [f"/articles/{m}" for m in re.findall(r'"id":\s*"urn:uuid:([0-9a-f-]{36})"', body)]


def test_newsboat_reloading_twice_shows_each_article_once(running: Service, tmp_path: Path) -> None:
    need("newsboat")
    urls = tmp_path / "urls"
    urls.write_text(f"{running.base}/feeds/seeds.rss\n{running.base}/feeds/all.atom\n")
    cache = tmp_path / "cache.db"

    def unread() -> int:
        result = subprocess.run(
            [
                "newsboat",
                "-u",
                str(urls),
                "-c",
                str(cache),
                "-C",
                "/dev/null",
                "-x",
                "reload",
                "print-unread",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, result.stderr
        match = re.search(r"(\d+) unread articles", result.stdout)
        assert match, result.stdout
        return int(match.group(1))

    first = unread()
    assert first == 2  # 2 articles (also in the combined feed: same guid, shown once)
    assert unread() == first  # a reload of an unchanged (or 304) feed adds nothing
