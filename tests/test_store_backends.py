"""The store's behaviour, checked against both back-ends: SQLite and PostgreSQL.

The PostgreSQL runs use the server on 127.0.0.1:5432, database ``test`` (user
``postgres``, else the current user; ``$FEEDMILL_TEST_DATABASE_URL`` overrides), in a
schema of their own created for the test session and dropped at its end. When no server
answers, the PostgreSQL tests fail under CI (``$CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from pg_support import Postgres
from psycopg import sql

from feeds import pgstore
from feeds import store as sqlite_module
from feeds.article import Article, RelatedLink, article_id, content_hash
from feeds.errors import StoreError
from feeds.pgstore import PostgresStore
from feeds.store import SCHEMA_VERSION, Outcome, SQLiteStore, StoredPage, Validators
from feeds.stores import open_store

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLES = ("articles", "runs", "pages", "http_cache", "file_state", "schedule_state")


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


# -- the two back-ends ----------------------------------------------------------------


@dataclass
class Backend:
    name: str
    open: Callable[[], SQLiteStore | PostgresStore]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", lambda: SQLiteStore.in_data_dir(tmp_path))
    pg: Postgres = request.getfixturevalue("postgres")
    PostgresStore(pg.url, schema=pg.schema).close()  # the schema exists and is current
    with pg.connect() as conn:  # every test starts from an empty store
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    return Backend("postgres", lambda: PostgresStore(pg.url, schema=pg.schema))


@pytest.fixture
def store(backend: Backend) -> Iterator[SQLiteStore | PostgresStore]:
    with backend.open() as opened:
        yield opened


# -- articles, transactions and runs, on both ---------------------------------------


def test_upsert_reports_new_then_unchanged_without_writing(store) -> None:
    article = make("a.txt")
    assert store.upsert(article) is Outcome.NEW
    first = store.get(article.id)
    assert store.upsert(make("a.txt")) is Outcome.UNCHANGED
    again = store.get(article.id)
    assert again == first  # no timestamp churn
    assert store.counts() == {"seeds": 1}


def test_edit_updates_row_and_updated_time_but_keeps_id_and_first_seen(store) -> None:
    store.upsert(make("a.txt"), now=datetime(2026, 1, 1, tzinfo=UTC))
    edited = make("a.txt", title="新标题")
    assert store.upsert(edited, now=datetime(2026, 1, 2, tzinfo=UTC)) is Outcome.UPDATED
    row = store.get(edited.id)
    assert row is not None
    assert row.title == "新标题"
    assert row.first_seen == datetime(2026, 1, 1, tzinfo=UTC)
    assert row.updated == datetime(2026, 1, 2, tzinfo=UTC)
    assert store.counts() == {"seeds": 1}


def test_an_edit_in_the_same_microsecond_is_still_an_update(store) -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    assert store.upsert(make("a.txt"), now=moment) is Outcome.NEW
    # SQLite tells new from updated by first_seen == now; PostgreSQL by xmax.
    if store.__class__ is PostgresStore:
        assert store.upsert(make("a.txt", title="改"), now=moment) is Outcome.UPDATED


def test_guessed_date_change_is_not_an_edit(store) -> None:
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


def test_round_trip_keeps_every_field(store) -> None:
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
        "date_guessed",
    ):
        assert getattr(row, name) == getattr(article, name), name
    assert row.published == article.published
    assert row.published.utcoffset() == timedelta(hours=8)
    assert row.modified == article.modified
    assert row.modified.utcoffset() == timedelta(hours=8)
    assert row.content_hash and row.first_seen and row.updated
    assert store.get("no-such-id") is None


def test_latest_is_newest_first_per_source_and_combined(store) -> None:
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
    assert store.latest_in([], 3) == []
    assert store.latest("nobody", 3) == []


def test_ties_in_time_break_by_id_the_same_way(store) -> None:
    articles = [make(f"{n}.txt", day=9, source="s" + str(n % 2)) for n in range(12)]
    for article in articles:
        store.upsert(article)
    expected = sorted(a.id for a in articles)
    assert [a.id for a in store.latest(None, 12)] == expected
    assert [a.id for a in store.latest_in(["s0", "s1"], 12)] == expected
    assert [a.id for a in store.latest("s1", 6)] == sorted(a.id for a in articles[1::2])


def test_newest_n_of_a_source_is_an_index_search_not_a_scan(store, backend: Backend) -> None:
    with store.transaction():
        for n in range(3000):
            store.upsert(make(f"{n}.txt", day=1 + n % 28, source=f"src{n % 30}"))
    if backend.name == "sqlite":
        plan = store.explain_latest("seeds")
        assert "USING INDEX articles_source_newest" in plan
        assert "TEMP B-TREE" not in plan  # no sort step: the index gives the order
        assert "USING INDEX articles_newest" in store.explain_latest(None)
        return
    store._db.execute("ANALYZE articles")
    plan = store.explain_latest("src3")
    assert "Index Scan using articles_source_newest" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the order
    assert "Seq Scan" not in plan, plan
    everything = store.explain_latest(None)
    assert "Index Scan using articles_newest" in everything, everything
    assert "Sort" not in everything, everything


def test_store_is_versioned(store, backend: Backend, tmp_path: Path) -> None:
    assert store.schema_version == SCHEMA_VERSION == pgstore.SCHEMA_VERSION == 4
    if backend.name == "sqlite":
        db = sqlite3.connect(tmp_path / "feedmill.sqlite3")
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    else:
        rows = store._db.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [v for (v,) in rows] == [1, 2, 3, 4]


def test_a_newer_schema_is_refused(store, backend: Backend) -> None:
    if backend.name == "sqlite":
        store._db.execute("PRAGMA user_version = 99")
    else:
        store._db.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    try:
        with pytest.raises(StoreError, match="newer than this feedmill understands"):
            backend.open()
    finally:  # the PostgreSQL schema lives on after the test
        if backend.name == "postgres":
            store._db.execute("DELETE FROM schema_migrations WHERE version = 99")


def test_transaction_rolls_back_as_a_whole(store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert(make("a.txt"))
        store.start_run("seeds")
        raise RuntimeError("crash mid-batch")
    assert store.counts() == {}
    assert store.runs() == []
    assert not store.in_transaction


def test_begin_commit_and_rollback_by_hand(store, backend: Backend) -> None:
    store.begin()
    assert store.in_transaction
    store.upsert(make("a.txt"))
    with backend.open() as other:  # not visible to others before the commit
        assert other.counts() == {}
    store.commit()
    assert not store.in_transaction
    with backend.open() as other:
        assert other.counts() == {"seeds": 1}
    store.begin()
    store.upsert(make("b.txt"))
    store.rollback()
    assert store.counts() == {"seeds": 1}


def test_naive_or_missing_date_is_refused(store) -> None:
    article = make("a.txt")
    article.published = datetime(2022, 12, 9)
    with pytest.raises(ValueError, match="aware"):
        store.upsert(article)
    article = make("b.txt")
    article.id = ""
    with pytest.raises(ValueError, match="no id"):
        store.upsert(article)


def test_unreachable_location_raises_store_error(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "sqlite":
        blocker = tmp_path / "file"
        blocker.write_text("x")
        with pytest.raises(StoreError, match="cannot open the article store"):
            SQLiteStore(blocker / "sub" / "feedmill.sqlite3")
    else:
        with pytest.raises(StoreError, match="cannot open the article store") as caught:
            PostgresStore("postgresql://feedmill:secret@127.0.0.1:1/test", connect_timeout=2)
        assert "secret" not in str(caught.value)


def test_runs_are_recorded_with_counts(store) -> None:
    run_id = store.start_run("seeds", trigger="cli")
    assert store.get_run(run_id).outcome == "running"  # type: ignore[union-attr]
    store.finish_run(run_id, "ok", {"fetched": 3, "new": 2, "unchanged": 1})
    other = store.start_run("seeds")
    store.finish_run(other, "failed", error="boom")
    runs = store.runs("seeds")
    assert [r.id for r in runs] == [other, run_id]
    assert (runs[1].fetched, runs[1].new, runs[1].unchanged, runs[1].failed) == (3, 2, 1, 0)
    assert runs[1].seconds is not None and runs[1].seconds >= 0
    assert store.last_runs()["seeds"].error == "boom"
    assert store.get_run(10_000) is None
    with pytest.raises(ValueError):
        store.finish_run(run_id, "running")


def test_run_history_over_sources(store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [store.start_run(f"s{n % 2}", now=start + timedelta(minutes=n)) for n in range(5)]
    assert [r.id for r in store.runs(limit=3)] == ids[::-1][:3]
    assert [r.id for r in store.runs("s1")] == [ids[3], ids[1]]
    last = store.last_runs()
    assert {name: run.id for name, run in last.items()} == {"s0": ids[4], "s1": ids[3]}
    assert last["s0"].started == start + timedelta(minutes=4)
    assert last["s0"].finished is None and last["s0"].seconds is None


def test_stale_runs_of_the_service_are_marked_interrupted(store) -> None:
    scheduled = store.start_run("seeds", trigger="schedule")
    by_hand = store.start_run("seeds", trigger="cli")
    assert store.interrupt_stale_runs(["schedule", "api"]) == 1
    assert store.get_run(scheduled).outcome == "interrupted"  # type: ignore[union-attr]
    assert store.get_run(by_hand).outcome == "running"  # type: ignore[union-attr]
    assert store.interrupt_stale_runs([]) == 0


def test_runs_keep_their_node_job_and_log_tail(store) -> None:
    local = store.start_run("seeds", trigger="schedule")
    remote = store.start_run("site", trigger="schedule")
    store.set_run_job(remote, "http://127.0.0.1:6800", "job-1")
    store.finish_run(local, "ok", {"new": 2})
    store.set_log_tail(local, "last line")
    assert [run.id for run in store.runs_under_way()] == [remote]
    ran = store.get_run(remote)
    assert (ran.node, ran.job, ran.outcome) == ("http://127.0.0.1:6800", "job-1", "running")
    ended = store.get_run(local)
    # The log tail alone changed: the outcome and counts the child recorded stay.
    assert (ended.outcome, ended.new, ended.log_tail, ended.node) == ("ok", 2, "last line", "")


def test_history_keeps_the_newest_finished_runs_of_each_source(store) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids: dict[str, list[int]] = {"a": [], "b": []}
    for n in range(12):
        source = "a" if n % 3 else "b"  # a: 8 runs, b: 4
        run_id = store.start_run(source, trigger="schedule", now=start + timedelta(minutes=n))
        store.finish_run(run_id, "ok" if n % 2 else "failed", log_tail=f"log {n}")
        ids[source].append(run_id)
    # A run under way (the oldest of all, from a scheduler that died) is never forgotten.
    under_way = store.start_run("a", trigger="schedule", now=start - timedelta(days=1))
    forgotten = store.prune_runs(3, chunk=2)  # several small transactions
    assert forgotten == sorted(
        [(i, "a") for i in ids["a"][:-3]] + [(i, "b") for i in ids["b"][:-3]]
    )
    assert [r.id for r in store.runs("a", limit=100)] == [under_way, *ids["a"][::-1][:3]]
    assert [r.id for r in store.runs("b", limit=100)] == ids["b"][::-1][:3]
    assert store.get_run(under_way).outcome == "running"  # type: ignore[union-attr]
    assert store.last_runs()["b"].log_tail == "log 9"
    assert store.prune_runs(3) == []  # nothing more to forget
    with pytest.raises(ValueError, match="at least 1"):
        store.prune_runs(0)


def test_runs_finished_since_and_local_interruption(store) -> None:
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    done = store.start_run("seeds", trigger="schedule", now=at)
    store.finish_run(done, "ok", now=at + timedelta(seconds=5))
    local = store.start_run("site", trigger="schedule", now=at)
    remote = store.start_run("feed", trigger="schedule", now=at)
    store.set_run_job(remote, "http://127.0.0.1:6800", "feed-3")
    assert store.sources_finished_since(at) == {"seeds": at + timedelta(seconds=5)}
    assert store.sources_finished_since(at + timedelta(seconds=6)) == {}
    assert store.interrupt_stale_runs(["schedule"], local_only=True) == 1
    assert store.get_run(local).outcome == "interrupted"
    assert store.get_run(remote).outcome == "running"  # a new leader follows it up


def test_schedule_state_round_trip(store) -> None:
    assert store.schedule_state() == {}
    at = datetime(2026, 11, 28, 21, 0, 0, 123456, tzinfo=SHANGHAI)
    store.save_schedule_state({"seeds": at, "site": at + timedelta(hours=1)})
    store.save_schedule_state({"site": None, "feed": at})
    state = store.schedule_state()
    assert state == {"seeds": at, "feed": at}
    assert all(moment.utcoffset() == timedelta(0) for moment in state.values())


def test_a_url_naming_its_schema_creates_it(postgres: Postgres) -> None:
    schema = postgres.new_schema()
    with open_store(postgres.database_url(schema)) as opened:
        assert opened.schema_version == SCHEMA_VERSION
        opened.upsert(make("a.txt"))
    with postgres.connect(schema) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone() == (1,)


# -- the rest of the interface the crawler uses ---------------------------------------


def test_pages_known_keys_and_last_change(store) -> None:
    old = make("https://example.org/a", source="news")
    new = make("https://example.org/b", source="news")
    store.upsert(old, now=datetime(2026, 1, 1, tzinfo=UTC))
    store.upsert(new, now=datetime(2026, 1, 3, tzinfo=UTC))
    fetched = datetime(2026, 1, 2, 12, tzinfo=UTC)
    body = "<html>正文</html>".encode() * 50
    store.put_page(StoredPage(old.id, "news", old.key, fetched, 200, {"B": "2", "A": "1"}, body))
    store.put_page(StoredPage(old.id, "news", old.key, fetched, 200, {"B": "2", "A": "1"}, body))
    assert store.known_keys("news") == {
        old.key: fetched,
        new.key: datetime(2026, 1, 3, tzinfo=UTC),
    }
    assert store.known_keys("other") == {}
    (page,) = store.pages("news")
    assert (page.id, page.url, page.status, page.body) == (old.id, old.key, 200, body)
    assert page.headers == {"B": "2", "A": "1"} and list(page.headers) == ["B", "A"]
    assert page.fetched_at == fetched
    assert list(store.pages("other")) == []
    assert store.last_change("news") == datetime(2026, 1, 3, tzinfo=UTC)
    assert store.last_change("other") is None


def test_validators_round_trip_and_replace(store) -> None:
    assert store.validators("https://example.org/list") is None
    first = Validators("https://example.org/list", '"e1"', "Mon", ("u1", "u2"), "next")
    store.put_validators("news", first)
    assert store.validators(first.url) == first
    second = Validators(first.url, '"e2"', "", (), "")
    store.put_validators("news", second, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert store.validators(first.url) == second


def test_file_signatures(store) -> None:
    assert store.file_signatures("seeds") == {}
    store.put_file_signature("id1", "seeds", "sig1")
    store.put_file_signatures([("id1", "seeds", "sig1b"), ("id2", "seeds", "sig2")])
    store.put_file_signatures([("id3", "other", "sig3")])
    assert store.file_signatures("seeds") == {"id1": "sig1b", "id2": "sig2"}
    assert store.file_signatures("other") == {"id3": "sig3"}


def test_store_error_mid_transaction_can_be_rolled_back(store) -> None:
    store.begin()
    store.upsert(make("a.txt"))
    with pytest.raises(StoreError):
        store.upsert(make("b.txt", title=None))  # type: ignore[arg-type]  # NOT NULL
    store.rollback()
    assert not store.in_transaction
    assert store.counts() == {}
    assert store.upsert(make("a.txt")) is Outcome.NEW


# -- concurrency -----------------------------------------------------------------------


def _race(backend: Backend, workers: int, work: Callable[[int, object], list[Outcome]]):
    """Run ``work(worker, store)`` in ``workers`` threads, each on its own connection,
    released together; returns every worker's outcomes."""
    barrier = threading.Barrier(workers)
    results: dict[int, list[Outcome]] = {}
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            with backend.open() as own:
                barrier.wait(timeout=30)
                results[worker] = work(worker, own)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_concurrent_upserts_store_each_article_once(store, backend: Backend) -> None:
    keys = [f"{n}.txt" for n in range(40)]
    workers = 6

    def same(worker: int, own) -> list[Outcome]:
        return [own.upsert(make(key, day=1 + n % 28)) for n, key in enumerate(keys)]

    results = _race(backend, workers, same)
    outcomes = Counter(o for done in results.values() for o in done)
    assert outcomes == {Outcome.NEW: len(keys), Outcome.UNCHANGED: len(keys) * (workers - 1)}
    assert store.counts() == {"seeds": len(keys)}

    # Every worker makes the same edit: exactly one of them updates each article.
    def edit(worker: int, own) -> list[Outcome]:
        return [own.upsert(make(key, day=1 + n % 28, title="改")) for n, key in enumerate(keys)]

    results = _race(backend, workers, edit)
    outcomes = Counter(o for done in results.values() for o in done)
    assert outcomes == {
        Outcome.UPDATED: len(keys),
        Outcome.UNCHANGED: len(keys) * (workers - 1),
    }

    # Different edits at once: no row lost or doubled, each ends as one worker's version.
    def rival(worker: int, own) -> list[Outcome]:
        return [
            own.upsert(make(key, day=1 + n % 28, title=f"w{worker}")) for n, key in enumerate(keys)
        ]

    results = _race(backend, workers, rival)
    assert all(o is Outcome.UPDATED or o is Outcome.UNCHANGED for r in results.values() for o in r)
    assert store.counts() == {"seeds": len(keys)}
    for key in keys:
        row = store.get(article_id("seeds", key))
        assert row is not None and row.title in {f"w{n}" for n in range(workers)}
        # The row is one worker's whole version, not a mix of two.
        n = keys.index(key)
        assert content_hash(make(key, day=1 + n % 28, title=row.title)) == row.content_hash


def test_concurrent_batches_in_transactions(store, backend: Backend) -> None:
    keys = [f"{n}.txt" for n in range(30)]

    def batch(worker: int, own) -> list[Outcome]:
        with own.transaction():
            done = [own.upsert(make(key)) for key in keys]
            own.put_file_signatures([(article_id("seeds", k), "seeds", f"w{worker}") for k in keys])
            return done

    results = _race(backend, 4, batch)
    outcomes = Counter(o for done in results.values() for o in done)
    assert outcomes == {Outcome.NEW: len(keys), Outcome.UNCHANGED: len(keys) * 3}
    assert store.counts() == {"seeds": len(keys)}
    assert len(store.file_signatures("seeds")) == len(keys)


# -- migrations ------------------------------------------------------------------------


def _check_upgraded(upgraded, article: Article) -> None:
    assert upgraded.schema_version == 4
    row = upgraded.get(article.id)
    assert row is not None and row.title == article.title and row.content_hash == "h"
    assert [run.source for run in upgraded.runs()] == ["seeds"]
    # The tables of versions 2 and 3 are there and work.
    upgraded.put_file_signature(article.id, "seeds", "sig")
    assert upgraded.file_signatures("seeds") == {article.id: "sig"}
    upgraded.put_validators("seeds", Validators("https://example.org/"))
    assert upgraded.validators("https://example.org/") == Validators("https://example.org/")
    assert upgraded.upsert(make("old.txt")) is Outcome.UPDATED  # the real hash replaces "h"


def test_an_older_sqlite_database_is_upgraded_in_place(tmp_path: Path) -> None:
    article = make("old.txt")
    path = tmp_path / "feedmill.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(sqlite_module._MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    stamp = sqlite_module._iso(datetime(2025, 1, 1, tzinfo=UTC))
    db.execute(sqlite_module._UPSERT_SQL, sqlite_module._article_row(article, "h", stamp))
    db.execute("INSERT INTO runs (source, started) VALUES ('seeds', ?)", (stamp,))
    db.commit()
    db.close()
    with SQLiteStore(path) as upgraded:
        _check_upgraded(upgraded, article)


def test_a_version_3_sqlite_file_keeps_the_schedule_the_old_scheduler_wrote(
    tmp_path: Path,
) -> None:
    # Before version 4 the scheduler created schedule_state itself, beside the store's
    # tables; upgrading must keep its rows (a restart goes on with the same schedule).
    path = tmp_path / "feedmill.sqlite3"
    db = sqlite3.connect(path)
    for script in sqlite_module._MIGRATIONS[:3]:
        db.executescript(script)
    db.execute("PRAGMA user_version = 3")
    db.execute("CREATE TABLE schedule_state (source TEXT PRIMARY KEY, next_run TEXT NOT NULL)")
    db.execute("INSERT INTO schedule_state VALUES ('seeds', '2030-01-01T00:00:00.000000+00:00')")
    db.execute("INSERT INTO runs (source, started) VALUES ('seeds', '2025-01-01T00:00:00+00:00')")
    db.commit()
    db.close()
    with SQLiteStore(path) as upgraded:
        assert upgraded.schema_version == SCHEMA_VERSION
        assert upgraded.schedule_state() == {"seeds": datetime(2030, 1, 1, tzinfo=UTC)}
        (run,) = upgraded.runs()
        assert (run.node, run.job, run.outcome) == ("", "", "running")


def test_an_older_postgres_database_is_upgraded_in_place(fresh_schema: Postgres) -> None:
    article = make("old.txt")
    with fresh_schema.connect() as conn, conn.transaction():  # what version 1 created
        conn.execute(pgstore._CREATE_MIGRATIONS_TABLE)
        conn.execute(pgstore.MIGRATIONS[0][1])
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute(
            pgstore._UPSERT_SQL,
            pgstore._article_row(article, "h", datetime(2025, 1, 1, tzinfo=UTC)),
        )
        conn.execute("INSERT INTO runs (source, started) VALUES ('seeds', now())")
    with PostgresStore(fresh_schema.url, schema=fresh_schema.schema) as upgraded:
        _check_upgraded(upgraded, article)
    with PostgresStore(fresh_schema.url, schema=fresh_schema.schema) as again:
        assert again.schema_version == 4  # opening a current database changes nothing
    with fresh_schema.connect() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in rows] == [1, 2, 3, 4]


@pytest.fixture
def fresh_schema(postgres: Postgres) -> Iterator[Postgres]:
    """An empty schema of its own (dropped with the session's)."""
    schema = postgres.new_schema()
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield Postgres(postgres.url, schema)
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_processes_opening_a_new_database_at_once_migrate_it_once(
    fresh_schema: Postgres,
) -> None:
    backend = Backend("postgres", lambda: PostgresStore(fresh_schema.url, fresh_schema.schema))
    results = _race(backend, 5, lambda worker, own: [own.schema_version])
    assert all(done == [4] for done in results.values())
    with fresh_schema.connect() as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [v for (v,) in rows] == [1, 2, 3, 4]


def test_processes_starting_at_once_on_a_new_schema_url_all_open_it(postgres: Postgres) -> None:
    url = postgres.database_url(postgres.new_schema())
    barrier = threading.Barrier(6)
    versions: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait(timeout=30)
            with open_store(url) as opened:  # each creates the schema if it is missing
                versions.append(opened.schema_version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert versions == [SCHEMA_VERSION] * 6


# -- choosing the back-end --------------------------------------------------------------


def test_open_store_chooses_sqlite_for_paths_and_sqlite_urls(tmp_path: Path) -> None:
    for target in (
        tmp_path / "a.sqlite3",
        str(tmp_path / "b.sqlite3"),
        f"sqlite:///{tmp_path / 'c.sqlite3'}",
    ):
        with open_store(target) as opened:
            assert isinstance(opened, SQLiteStore)
            assert opened.schema_version == 4
    assert sorted(p.name for p in tmp_path.glob("*.sqlite3")) == [
        "a.sqlite3",
        "b.sqlite3",
        "c.sqlite3",
    ]
    with pytest.raises(StoreError, match="unknown database URL scheme 'mysql'"):
        open_store("mysql://u:pw@host/db")
    with pytest.raises(StoreError, match="needs a file path"):
        open_store("sqlite:///")


def test_open_store_chooses_postgres_for_postgresql_urls(postgres: Postgres) -> None:
    with open_store(postgres.url, schema=postgres.schema) as opened:
        assert isinstance(opened, PostgresStore)
        assert opened.schema_version == 4
    alias = postgres.url.replace("postgresql://", "postgresql+psycopg://", 1)
    with open_store(alias, schema=postgres.schema) as opened:
        assert isinstance(opened, PostgresStore)


def _open_when_told(path: str, go: object) -> str:
    go.wait()  # type: ignore[attr-defined]
    try:
        SQLiteStore(path).close()
    except StoreError as exc:
        return str(exc)
    return "ok"


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Two ``feedmill crawl`` from cron (or the service and a crawl) may create the store
    together. Switching a new file to WAL takes an exclusive lock that SQLite refuses at
    once rather than after the busy timeout: without a retry about one round in six
    failed here with "database is locked"."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(4) as pool:
        for round_ in range(12):
            go = manager.Event()
            path = str(tmp_path / f"{round_}.sqlite3")
            pending = [pool.apply_async(_open_when_told, (path, go)) for _ in range(4)]
            go.set()
            assert [p.get(timeout=60) for p in pending] == ["ok"] * 4, round_
            with SQLiteStore(path) as store:
                assert store.schema_version == SCHEMA_VERSION
