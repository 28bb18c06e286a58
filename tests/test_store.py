"""The SQLite store: one row per id, no churn on re-reads, edits update, newest first by index."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.article import Article, RelatedLink, article_id
from feeds.errors import StoreError
from feeds.store import SCHEMA_VERSION, Outcome, SQLiteStore

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make(key: str, day: int = 9, title: str = "标题", **fields: object) -> Article:
    article = Article(
        source=str(fields.pop("source", "seeds")),
        key=key,
        title=title,
        authors=["杨宝光"],
        published=datetime(2022, 12, day, tzinfo=SHANGHAI),
        body_text="正文。",
        related=[RelatedLink("相关", "")],
        **fields,  # type: ignore[arg-type]
    )
    article.id = article_id(article.source, key)
    return article


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    with SQLiteStore.in_data_dir(tmp_path) as opened:
        yield opened


def test_upsert_reports_new_then_unchanged_without_writing(store: SQLiteStore) -> None:
    article = make("a.txt")
    assert store.upsert(article) is Outcome.NEW
    first = store.get(article.id)
    assert store.upsert(make("a.txt")) is Outcome.UNCHANGED
    again = store.get(article.id)
    assert again == first  # no timestamp churn
    assert store.counts() == {"seeds": 1}


def test_edit_updates_row_and_updated_time_but_keeps_id_and_first_seen(store: SQLiteStore) -> None:
    store.upsert(make("a.txt"), now=datetime(2026, 1, 1, tzinfo=UTC))
    edited = make("a.txt", title="新标题")
    assert store.upsert(edited, now=datetime(2026, 1, 2, tzinfo=UTC)) is Outcome.UPDATED
    row = store.get(edited.id)
    assert row is not None
    assert row.title == "新标题"
    assert row.first_seen == datetime(2026, 1, 1, tzinfo=UTC)
    assert row.updated == datetime(2026, 1, 2, tzinfo=UTC)
    assert store.counts() == {"seeds": 1}


def test_guessed_date_change_is_not_an_edit(store: SQLiteStore) -> None:
    article = make("a.txt", date_guessed=True)
    store.upsert(article)
    touched = make("a.txt", date_guessed=True)
    touched.published = article.published + timedelta(days=30)  # type: ignore[operator]
    assert store.upsert(touched) is Outcome.UNCHANGED
    edited = make("a.txt", date_guessed=True, title="改")
    edited.published = article.published + timedelta(days=30)  # type: ignore[operator]
    assert store.upsert(edited) is Outcome.UPDATED
    row = store.get(article.id)
    assert row is not None and row.title == "改"
    assert row.published == article.published  # the first guess stays


def test_round_trip_keeps_every_field(store: SQLiteStore) -> None:
    article = make(
        "b.txt",
        url="https://example.org/b",
        agency="中青报·中青网",
        publisher="中国西藏网",
        rights="版权声明:…",
        categories=["新闻"],
        language="zh-CN",
        summary="摘要",
        body_html="<p>正文。</p>",
        image="https://example.org/b.jpg",
        modified=datetime(2022, 12, 10, 8, 30, tzinfo=SHANGHAI),
    )
    store.upsert(article)
    row = store.get(article.id)
    assert row is not None
    for name in (
        "url",
        "agency",
        "publisher",
        "rights",
        "categories",
        "language",
        "summary",
        "body_html",
        "image",
        "authors",
        "related",
        "title",
        "body_text",
    ):
        assert getattr(row, name) == getattr(article, name), name
    assert row.published == article.published
    assert row.published.utcoffset() == timedelta(hours=8)
    assert row.modified == article.modified
    assert row.content_hash and row.first_seen and row.updated


def test_latest_is_newest_first_per_source_and_combined(store: SQLiteStore) -> None:
    for day in (3, 9, 5):
        store.upsert(make(f"{day}.txt", day=day))
    store.upsert(make("other.txt", day=7, source="other"))
    assert [a.key for a in store.latest("seeds", 2)] == ["9.txt", "5.txt"]
    assert [a.key for a in store.latest(None, 10)] == ["9.txt", "other.txt", "5.txt", "3.txt"]
    assert [a.key for a in store.latest_in(["other", "seeds"], 3)] == [
        "9.txt",
        "other.txt",
        "5.txt",
    ]


def test_newest_n_of_a_source_is_an_index_search_not_a_scan(store: SQLiteStore) -> None:
    plan = store.explain_latest("seeds")
    assert "USING INDEX articles_source_newest" in plan
    assert "TEMP B-TREE" not in plan  # no sort step: the index gives the order
    assert "USING INDEX articles_newest" in store.explain_latest(None)


def test_store_is_wal_and_versioned(store: SQLiteStore, tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "feedmill.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == SCHEMA_VERSION == 4
    db.close()


def test_transaction_rolls_back_as_a_whole(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert(make("a.txt"))
        raise RuntimeError("crash mid-batch")
    assert store.counts() == {}


def test_naive_or_missing_date_is_refused(store: SQLiteStore) -> None:
    article = make("a.txt")
    article.published = datetime(2022, 12, 9)
    with pytest.raises(ValueError, match="aware"):
        store.upsert(article)


def test_unwritable_location_raises_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open the article store"):
        SQLiteStore(blocker / "sub" / "feedmill.sqlite3")


def test_runs_are_recorded_with_counts(store: SQLiteStore) -> None:
    run_id = store.start_run("seeds", trigger="cli")
    assert store.get_run(run_id).outcome == "running"  # type: ignore[union-attr]
    store.finish_run(run_id, "ok", {"fetched": 3, "new": 2, "unchanged": 1})
    other = store.start_run("seeds")
    store.finish_run(other, "failed", error="boom")
    runs = store.runs("seeds")
    assert [r.id for r in runs] == [other, run_id]
    assert (runs[1].fetched, runs[1].new, runs[1].unchanged, runs[1].failed) == (3, 2, 1, 0)
    assert store.last_runs()["seeds"].error == "boom"
    with pytest.raises(ValueError):
        store.finish_run(run_id, "running")


def test_stale_runs_of_the_service_are_marked_interrupted(store: SQLiteStore) -> None:
    scheduled = store.start_run("seeds", trigger="schedule")
    by_hand = store.start_run("seeds", trigger="cli")
    assert store.interrupt_stale_runs(["schedule", "api"]) == 1
    assert store.get_run(scheduled).outcome == "interrupted"  # type: ignore[union-attr]
    assert store.get_run(by_hand).outcome == "running"  # type: ignore[union-attr]
