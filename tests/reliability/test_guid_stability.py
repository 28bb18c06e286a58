"""GUID stability guard (issue 6): editing an article never changes its id or feed guid.

Documents are crawled, then edited between crawls (title, text, dateline, the year, the
file's time stamps; one is also deleted and written again), four times. After every
crawl each document's article id in the store, its RSS ``guid``, Atom ``id`` and JSON
Feed ``id`` (in its source's feed and in the combined one) are the ones of the first
crawl; every feed's entry ids are unique; the store has one row per document.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from pathlib import Path

from faultkit import FORMATS, document, duplicates, feed_entry_ids, project_config
from lxml import etree

from feeds.article import article_id

from support import run_feedmill

COUNT = 30  # fewer than feed_size: every article is in every feed
ATOM = "{http://www.w3.org/2005/Atom}"


def entries_by_title(path: Path) -> dict[str, str]:
    """Entry title -> entry id of one feed file."""
    data = path.read_bytes()
    if path.suffix == ".json":
        return {item["title"]: item["id"] for item in json.loads(data)["items"]}
    root = etree.fromstring(data)
    if path.suffix == ".rss":
        return {item.findtext("title"): item.findtext("guid") for item in root.iter("item")}
    return {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")}


def test_ids_and_guids_survive_every_edit(tmp_path: Path) -> None:
    project = tmp_path / "project"
    docs = project / "bulk"
    docs.mkdir(parents=True)
    (project / "feedmill.toml").write_text(project_config(), encoding="utf-8")
    db = project / "var" / "feedmill.sqlite3"
    feeds = project / "var" / "feeds"
    first: dict[tuple[int, str, str], str] = {}  # (document, feed file) -> its entry id
    first_ids: dict[str, str] = {}
    last_published: dict[str, str] = {}
    editions = ["初版", "修订版", "第三版", "终版", "更正版"]
    for round_, edition in enumerate(editions):
        for number in range(COUNT):
            path = docs / f"{number:05d}.txt"
            if round_ == 2 and number == 0:
                path.unlink(missing_ok=True)  # deleted and written anew: still the same
            text = document(
                number,
                edition,
                month=1 + (number + round_) % 12,
                day=1 + (number * 7 + round_) % 28,
                year=2019 + round_,
                filler="补充内容。" * round_,
            )
            path.write_text(text, encoding="utf-8")
            stamp = 1_600_000_000 + round_ * 86_400 * 40 + number
            os.utime(path, (stamp, stamp))
        crawl = run_feedmill(project, "crawl", "-q")
        assert crawl.returncode == 0, crawl.stderr

        with contextlib.closing(sqlite3.connect(db)) as connection:
            rows = connection.execute("SELECT key, id, title, published FROM articles").fetchall()
        assert len(rows) == COUNT and not duplicates(db)
        for key, stored_id, title, _ in rows:
            assert edition in title  # the edit was stored ...
            assert stored_id == article_id("bulk", key)  # ... under the same id
            assert first_ids.setdefault(key, stored_id) == stored_id
        published = {key: when for key, _, _, when in rows}
        # the time stamps did change: every article has a new publication time
        assert not set(published.items()) & set(last_published.items())
        last_published = published
        for name in ("bulk", "all"):
            for fmt in FORMATS:
                path = feeds / f"{name}.{fmt}"
                ids = feed_entry_ids(path)
                assert len(ids) == COUNT == len(set(ids)), path
                by_title = entries_by_title(path)
                for number in range(COUNT):
                    [title] = [t for t in by_title if t.startswith(f"第{number}号{edition}")]
                    guid = by_title[title]
                    key = f"{number:05d}.txt"
                    assert first_ids[key] in guid  # the guid carries the article id
                    assert first.setdefault((number, name, fmt), guid) == guid, (
                        f"round {round_}: {path.name} entry of {key} changed its id"
                    )
    assert len(first) == COUNT * 2 * len(FORMATS)


def test_ids_are_uuid5_and_never_raise() -> None:
    """The id is uuid5 of "source\\nkey" (what every stored id was made with), and a key
    holding a lone surrogate (Hypothesis found one) still gets an id instead of raising."""
    import uuid

    from feeds.article import ID_NAMESPACE

    for source, key in [("seeds", "000.txt"), ("news", "https://例子.cn/a?b=1"), ("s", "")]:
        assert article_id(source, key) == str(uuid.uuid5(ID_NAMESPACE, f"{source}\n{key}"))
    odd = article_id("s", "bad-\ud800-name")
    assert odd != article_id("s", "bad--name") and len(odd) == 36
