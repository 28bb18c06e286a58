"""Feed files rendered from the database as runs end elsewhere (feeds.refresh).

The refresher is what lets any serve node answer for a shared PostgreSQL store; it only
talks to the store interface, so a SQLite file stands in for the database here.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from feeds.article import Article, article_id
from feeds.config import load_config
from feeds.refresh import FeedRefresher
from feeds.store import SQLiteStore


def article(key: str, title: str) -> Article:
    made = Article(
        source="seeds",
        key=key,
        title=title,
        published=datetime(2022, 12, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        body_text="正文。",
    )
    made.id = article_id("seeds", key)
    return made


def crawl_elsewhere(database: Path, *articles: Article, source: str = "seeds") -> None:
    """What a crawl on another machine leaves behind: articles and an ended run."""
    with SQLiteStore(database) as store:
        run_id = store.start_run(source, trigger="schedule")
        for item in articles:
            store.upsert(item)
        store.finish_run(run_id, "ok", {"new": len(articles)})


def test_feeds_follow_the_runs_that_end_in_the_database(project: Path) -> None:
    config = load_config(project / "feedmill.toml")
    database = project / "shared.sqlite3"
    crawl_elsewhere(database, article("a.txt", "第一篇"))
    rss = project / "node" / "feeds" / "seeds.rss"

    async def scenario() -> tuple[bytes, bytes, int]:
        refresher = FeedRefresher(lambda: config, str(database), project / "node", interval=0.1)
        await refresher.start()  # renders every feed at once
        first = rss.read_bytes()
        crawl_elsewhere(database, article("b.txt", "第二篇"))
        crawl_elsewhere(database, source="gone")  # a source no longer configured
        for _ in range(50):
            await asyncio.sleep(0.1)
            if "第二篇".encode() in rss.read_bytes():
                break
        second = rss.read_bytes()
        builds = refresher.builds
        await asyncio.sleep(0.5)  # nothing more ended: nothing is rendered again
        assert refresher.builds == builds
        await refresher.stop()
        return first, second, builds

    first, second, builds = asyncio.run(scenario())
    assert "第一篇".encode() in first and "第二篇".encode() not in first
    assert "第二篇".encode() in second
    assert builds == 2
    assert (project / "node" / "feeds" / "all.atom").exists()
