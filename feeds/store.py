"""The article store: every article once, keyed by its stable id, plus the run history.

This module owns every SQL statement. The interface is small on purpose (upsert, latest,
get, counts, runs) so that a PostgreSQL store can stand beside it without the spiders or
the renderer noticing. SQLite runs in WAL mode so that the feed server can read while a
crawl writes, and writers take the lock up front (BEGIN IMMEDIATE) so that two crawls on
one data directory queue instead of failing half-way.
"""

from __future__ import annotations

import enum
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from feeds.article import Article, RelatedLink, content_hash
from feeds.errors import StoreError

logger = logging.getLogger(__name__)

STORE_FILE = "feedmill.sqlite3"

# Each entry upgrades the schema by one version; PRAGMA user_version says how far a file is.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE articles (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        url TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL,
        authors TEXT NOT NULL DEFAULT '[]',
        agency TEXT NOT NULL DEFAULT '',
        publisher TEXT NOT NULL DEFAULT '',
        published TEXT NOT NULL,
        published_ts REAL NOT NULL,
        date_guessed INTEGER NOT NULL DEFAULT 0,
        modified TEXT,
        language TEXT NOT NULL DEFAULT '',
        summary TEXT NOT NULL DEFAULT '',
        body_text TEXT NOT NULL DEFAULT '',
        body_html TEXT NOT NULL DEFAULT '',
        rights TEXT NOT NULL DEFAULT '',
        categories TEXT NOT NULL DEFAULT '[]',
        related TEXT NOT NULL DEFAULT '[]',
        image TEXT NOT NULL DEFAULT '',
        content_hash TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        updated TEXT NOT NULL
    );
    CREATE INDEX articles_source_newest ON articles (source, published_ts DESC, id);
    CREATE INDEX articles_newest ON articles (published_ts DESC, id);
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        trigger TEXT NOT NULL DEFAULT '',
        started TEXT NOT NULL,
        finished TEXT,
        outcome TEXT NOT NULL DEFAULT 'running',
        fetched INTEGER NOT NULL DEFAULT 0,
        new INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        log_tail TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_source_started ON runs (source, id DESC);
    """,
    # 2: fetched pages (kept compressed, so extraction can be re-run without fetching)
    # and HTTP validators of listing pages and upstream feeds (conditional requests).
    """
    CREATE TABLE pages (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        url TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        status INTEGER NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        body BLOB NOT NULL
    );
    CREATE INDEX pages_source ON pages (source);
    CREATE TABLE http_cache (
        url TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        etag TEXT NOT NULL DEFAULT '',
        last_modified TEXT NOT NULL DEFAULT '',
        links TEXT NOT NULL DEFAULT '[]',
        next_url TEXT NOT NULL DEFAULT '',
        checked_at TEXT NOT NULL
    );
    """,
    # 3: what each local file looked like when it was last read, so an unchanged file
    # is not read and parsed again.
    """
    CREATE TABLE file_state (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        signature TEXT NOT NULL
    );
    CREATE INDEX file_state_source ON file_state (source);
    """,
    # 4: the scheduler's next run per source (so a restarted or standby scheduler goes on
    # where the last one stopped), and where a run went when a Scrapyd node ran it.
    # schedule_state may already exist: the scheduler used to create it itself.
    """
    CREATE TABLE IF NOT EXISTS schedule_state (
        source TEXT PRIMARY KEY,
        next_run TEXT NOT NULL
    );
    ALTER TABLE runs ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN job TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_running ON runs (outcome) WHERE outcome = 'running';
    CREATE INDEX runs_finished ON runs (finished);
    """,
)

SCHEMA_VERSION = len(_MIGRATIONS)

_ARTICLE_COLUMNS = (
    "id",
    "source",
    "key",
    "url",
    "title",
    "authors",
    "agency",
    "publisher",
    "published",
    "published_ts",
    "date_guessed",
    "modified",
    "language",
    "summary",
    "body_text",
    "body_html",
    "rights",
    "categories",
    "related",
    "image",
    "content_hash",
    "first_seen",
    "updated",
)
# Columns an edit may change; identity and first_seen never change once written.
_UPDATABLE = [c for c in _ARTICLE_COLUMNS if c not in ("id", "source", "key", "first_seen")]
_UPDATE_SET = ",\n    ".join(
    f"{c} = CASE WHEN excluded.date_guessed THEN articles.{c} ELSE excluded.{c} END"
    if c in ("published", "published_ts", "date_guessed")
    else f"{c} = excluded.{c}"
    for c in _UPDATABLE
)
_UPSERT_SQL = f"""
INSERT INTO articles ({", ".join(_ARTICLE_COLUMNS)})
VALUES ({", ".join("?" for _ in _ARTICLE_COLUMNS)})
ON CONFLICT (id) DO UPDATE SET
    {_UPDATE_SET}
WHERE articles.content_hash <> excluded.content_hash
RETURNING first_seen
"""
_SELECT_ARTICLES = f"SELECT {', '.join(_ARTICLE_COLUMNS)} FROM articles"


@dataclass(frozen=True, slots=True)
class StoredPage:
    """A fetched article page as kept for re-extraction (body decompressed)."""

    id: str
    source: str
    url: str
    fetched_at: datetime
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Validators:
    """What a listing page or feed answered last time: validators for a conditional
    request, and the links it held (reused when the server answers 304)."""

    url: str
    etag: str = ""
    last_modified: str = ""
    links: tuple[str, ...] = ()
    next_url: str = ""


class Outcome(enum.StrEnum):
    """What an upsert did to the store."""

    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


# "lost": the Scrapyd node running it stopped answering (the run is done again elsewhere).
RUN_OUTCOMES = ("running", "ok", "failed", "timeout", "cancelled", "interrupted", "lost")


@dataclass(frozen=True, slots=True)
class Run:
    """One run of one source, as recorded in the store."""

    id: int
    source: str
    trigger: str
    started: datetime
    finished: datetime | None
    outcome: str
    fetched: int
    new: int
    updated: int
    unchanged: int
    failed: int
    error: str
    log_tail: str
    node: str = ""  # the Scrapyd node that ran it ("" for a local child process)
    job: str = ""  # its Scrapyd job id

    @property
    def seconds(self) -> float | None:
        if self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


RUN_COUNTS = ("fetched", "new", "updated", "unchanged", "failed")


def utcnow() -> datetime:
    """The current time, aware, in UTC (one place, so tests can see what the store sees)."""
    return datetime.now(UTC)


class SharedStore:
    """What both back-ends do the same way, over their own connection.

    A subclass provides ``_db`` (a DB-API connection in autocommit mode, with
    ``execute``), ``path`` (what messages name), ``begin``/``commit``/``rollback``,
    ``_P`` (its parameter placeholder), ``_DB_ERRORS`` (its driver's exceptions),
    ``_SELECT_RUNS``/``_run_from_row`` and ``_time(moment)`` (a time as it stores one).
    """

    _P = "?"
    _BEGIN = "BEGIN IMMEDIATE"
    _DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
    _SELECT_RUNS = ""
    _db: Any
    path: Any
    _in_transaction: bool

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _time(self, moment: datetime) -> object:
        raise NotImplementedError

    def _run_from_row(self, row: Any) -> Run:
        raise NotImplementedError

    def _article_from_row(self, row: Any) -> Article:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ---------------------------------------------------------------

    def begin(self) -> None:
        """Start a write transaction (SQLite takes the write lock now, not half-way)."""
        try:
            self._db.execute(self._BEGIN)
        except self._DB_ERRORS as exc:
            raise StoreError(f"{self.path}: cannot start a write: {exc}") from exc
        self._in_transaction = True

    def commit(self) -> None:
        self._in_transaction = False
        try:
            self._db.execute("COMMIT")
        except self._DB_ERRORS as exc:
            self.rollback()
            raise StoreError(f"{self.path}: cannot commit: {exc}") from exc

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them land, or none (nested use joins the outer one)."""
        if self._in_transaction:
            yield
            return
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    # -- articles -------------------------------------------------------------------

    def _latest_sql(self, source: str | None) -> str:
        where = f"WHERE source = {self._P} " if source is not None else ""
        return f"{_SELECT_ARTICLES} {where}ORDER BY published_ts DESC, id LIMIT {self._P}"

    def get(self, article_id: str) -> Article | None:
        query = f"{_SELECT_ARTICLES} WHERE id = {self._P}"
        row = self._db.execute(query, (article_id,)).fetchone()
        return self._article_from_row(row) if row else None

    def latest(self, source: str | None, limit: int) -> list[Article]:
        """The newest ``limit`` articles of ``source`` (of every source when None)."""
        params = (limit,) if source is None else (source, limit)
        rows = self._db.execute(self._latest_sql(source), params)
        return [self._article_from_row(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Articles per source."""
        rows = self._db.execute("SELECT source, COUNT(*) FROM articles GROUP BY source")
        return {source: int(count) for source, count in rows}

    # -- local files ----------------------------------------------------------------

    def file_signatures(self, source: str) -> dict[str, str]:
        """Article id -> signature of the file it was last read from (see put_file_signature)."""
        query = f"SELECT id, signature FROM file_state WHERE source = {self._P}"
        return dict(self._db.execute(query, (source,)).fetchall())

    def _put_signature_sql(self) -> str:
        p = self._P
        return (
            f"INSERT INTO file_state (id, source, signature) VALUES ({p}, {p}, {p}) "
            "ON CONFLICT (id) DO UPDATE "
            "SET source = excluded.source, signature = excluded.signature"
        )

    def put_file_signature(self, article_id: str, source: str, signature: str) -> None:
        self.put_file_signatures([(article_id, source, signature)])

    def put_file_signatures(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """put_file_signature for many (article id, source, signature) rows in one
        statement: a crawl records one per document it read."""
        try:
            with self.transaction():
                cursor = self._db.cursor()
                try:
                    cursor.executemany(self._put_signature_sql(), rows)
                finally:
                    cursor.close()
        except self._DB_ERRORS as exc:
            raise StoreError(f"{self.path}: cannot record file state: {exc}") from exc

    # -- run history ----------------------------------------------------------------

    def get_run(self, run_id: int) -> Run | None:
        row = self._db.execute(f"{self._SELECT_RUNS} WHERE id = {self._P}", (run_id,)).fetchone()
        return self._run_from_row(row) if row else None

    def runs(self, source: str | None = None, limit: int = 20) -> list[Run]:
        """Run history, newest first."""
        p = self._P
        if source is None:
            rows = self._db.execute(f"{self._SELECT_RUNS} ORDER BY id DESC LIMIT {p}", (limit,))
        else:
            query = f"{self._SELECT_RUNS} WHERE source = {p} ORDER BY id DESC LIMIT {p}"
            rows = self._db.execute(query, (source, limit))
        return [self._run_from_row(row) for row in rows]

    def last_runs(self) -> dict[str, Run]:
        """The latest run of each source that has one."""
        rows = self._db.execute(
            f"{self._SELECT_RUNS} WHERE id IN (SELECT max(id) FROM runs GROUP BY source)"
        )
        return {run.source: run for run in map(self._run_from_row, rows)}

    def prune_runs(self, keep: int, chunk: int = 500) -> list[tuple[int, str]]:
        """Forget all but the newest ``keep`` finished runs of each source; the (id,
        source) of the runs forgotten, oldest first.

        Runs under way are never touched: their record is how a restarted or new
        scheduler settles them. The rows go in transactions of ``chunk``, so a crawl
        writing at the same time waits milliseconds, not for the whole first pruning of
        a years-old history.
        """
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        p = self._P
        ranked = (
            "SELECT id, source, ROW_NUMBER() OVER (PARTITION BY source ORDER BY id DESC) "
            "AS newer FROM runs WHERE outcome <> 'running'"
        )
        query = f"SELECT id, source FROM ({ranked}) AS ranked WHERE newer > {p} ORDER BY id"
        try:
            doomed = [(int(i), str(s)) for i, s in self._db.execute(query, (keep,)).fetchall()]
            for start in range(0, len(doomed), chunk):
                ids = [run_id for run_id, _ in doomed[start : start + chunk]]
                marks = ", ".join([p] * len(ids))
                with self.transaction():
                    self._db.execute(
                        f"DELETE FROM runs WHERE outcome <> 'running' AND id IN ({marks})", ids
                    )
        except self._DB_ERRORS as exc:
            raise StoreError(f"{self.path}: cannot prune the run history: {exc}") from exc
        return doomed

    # -- runs under way -------------------------------------------------------------

    def runs_under_way(self) -> list[Run]:
        """Runs recorded as still running (a scheduler taking over follows them up)."""
        rows = self._db.execute(f"{self._SELECT_RUNS} WHERE outcome = 'running' ORDER BY id")
        return [self._run_from_row(row) for row in rows]

    def set_run_job(self, run_id: int, node: str, job: str) -> None:
        """Record which Scrapyd node runs ``run_id``, and its job id there."""
        self._update_run(run_id, f"node = {self._P}, job = {self._P}", (node, job), "its node")

    def set_log_tail(self, run_id: int, log_tail: str) -> None:
        """Attach the last log lines to run ``run_id`` and change nothing else (the child
        has already recorded its outcome and counts by the time its log is read)."""
        self._update_run(run_id, f"log_tail = {self._P}", (log_tail,), "its log")

    def _update_run(self, run_id: int, sets: str, values: tuple[str, ...], what: str) -> None:
        try:
            with self.transaction():
                self._db.execute(f"UPDATE runs SET {sets} WHERE id = {self._P}", (*values, run_id))
        except self._DB_ERRORS as exc:
            raise StoreError(f"{self.path}: cannot record {what} of run {run_id}: {exc}") from exc

    # -- the scheduler's state ------------------------------------------------------

    def schedule_state(self) -> dict[str, datetime]:
        """Source -> its persisted next scheduled run (aware, UTC)."""
        rows = self._db.execute("SELECT source, next_run FROM schedule_state").fetchall()
        return _schedule_rows(rows, self.path)

    def save_schedule_state(self, next_runs: Mapping[str, datetime | None]) -> None:
        """Remember each source's next run; None forgets it (paused or unscheduled)."""
        if not next_runs:
            return
        p = self._P
        try:
            with self.transaction():
                for source, moment in next_runs.items():
                    if moment is None:
                        self._db.execute(
                            f"DELETE FROM schedule_state WHERE source = {p}", (source,)
                        )
                    else:
                        self._db.execute(
                            f"INSERT INTO schedule_state (source, next_run) VALUES ({p}, {p}) "
                            "ON CONFLICT (source) DO UPDATE SET next_run = excluded.next_run",
                            (source, self._time(moment.astimezone(UTC))),
                        )
        except self._DB_ERRORS as exc:
            raise StoreError(f"{self.path}: cannot write schedule_state: {exc}") from exc


class SQLiteStore(SharedStore):
    """The embedded default store: one SQLite file in the data directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._enable_wal()
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the article store: {exc}") from exc
        self._in_transaction = False

    def _enable_wal(self, timeout: float = 30.0) -> None:
        """Switch to WAL (once per file: the mode is persistent). Switching takes an
        exclusive lock and SQLite reports a conflict at once instead of waiting for the
        busy timeout, so two processes opening a new store together (two ``feedmill
        crawl`` from cron, the service and a crawl) would see "database is locked"."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> SQLiteStore:
        return cls(Path(data_dir) / STORE_FILE)

    def close(self) -> None:
        self._db.close()

    # -- schema ---------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {version} is newer than this feedmill "
                f"understands ({len(_MIGRATIONS)}); upgrade feedmill"
            )
        for number in range(version, len(_MIGRATIONS)):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                if self._db.execute("PRAGMA user_version").fetchone()[0] > number:
                    self._db.execute("COMMIT")
                    continue
                for statement in _MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            logger.debug("%s: schema upgraded to version %d", self.path, number + 1)

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    # -- transactions ---------------------------------------------------------------

    def rollback(self) -> None:
        self._in_transaction = False
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def _time(self, moment: datetime) -> object:
        return _iso(moment)

    def _run_from_row(self, row: Any) -> Run:
        return _run_from_row(row)

    def _article_from_row(self, row: Any) -> Article:
        return _article_from_row(row)

    # -- articles -------------------------------------------------------------------

    def upsert(self, article: Article, now: datetime | None = None) -> Outcome:
        """Insert or update ``article`` by id; an unchanged article is not written at all.

        The store sets ``content_hash``, ``first_seen`` and ``updated`` on the article
        it is given only for new rows; read the row back with :meth:`get` for the rest.
        """
        if not article.id:
            raise ValueError(f"article {article.key!r} of {article.source!r} has no id")
        if article.published is None or article.published.tzinfo is None:
            raise ValueError(f"article {article.id}: published must be an aware datetime")
        stamp = _iso(now or utcnow())
        digest = content_hash(article)
        row = _article_row(article, digest, stamp)
        try:
            with self.transaction():
                result = self._db.execute(_UPSERT_SQL, row).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store article {article.id}: {exc}") from exc
        if result is None:
            return Outcome.UNCHANGED
        return Outcome.NEW if result[0] == stamp else Outcome.UPDATED

    def latest_in(self, sources: Sequence[str], limit: int) -> list[Article]:
        """The newest ``limit`` articles over several sources (a combined feed)."""
        merged: list[Article] = []
        for name in sources:
            merged.extend(self.latest(name, limit))
        merged.sort(key=lambda a: (-_timestamp(a.published), a.id))
        return merged[:limit]

    def explain_latest(self, source: str | None) -> str:
        """The query plan of :meth:`latest`, so a test can prove it is an index scan."""
        where = "WHERE source = 'x' " if source is not None else ""
        sql = f"EXPLAIN QUERY PLAN {_SELECT_ARTICLES} {where}ORDER BY published_ts DESC, id LIMIT 5"
        return "\n".join(row[-1] for row in self._db.execute(sql))

    def known_keys(self, source: str) -> dict[str, datetime]:
        """Keys (URLs) of the articles of ``source`` with the time their page was fetched
        (first_seen when no page is kept): what a crawl need not fetch again."""
        rows = self._db.execute(
            "SELECT a.key, COALESCE(p.fetched_at, a.first_seen) FROM articles a "
            "LEFT JOIN pages p ON p.id = a.id WHERE a.source = ?",
            (source,),
        )
        return {key: datetime.fromisoformat(when) for key, when in rows}

    # -- fetched pages and HTTP validators ------------------------------------------

    def put_page(self, page: StoredPage) -> None:
        """Keep a fetched page (compressed); the newest fetch of an article replaces older."""
        try:
            with self.transaction():
                self._db.execute(
                    "INSERT OR REPLACE INTO pages (id, source, url, fetched_at, status, headers, "
                    "body) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        page.id,
                        page.source,
                        page.url,
                        _iso(page.fetched_at),
                        page.status,
                        json.dumps(page.headers, ensure_ascii=False),
                        # Level 1: a third of level 6's time per page (the crawl's
                        # hottest store call) for ~6% more bytes; read back rarely.
                        zlib.compress(page.body, 1),
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot keep page {page.url}: {exc}") from exc

    def pages(self, source: str) -> Iterator[StoredPage]:
        """The kept pages of ``source``, for re-extraction."""
        rows = self._db.execute(
            "SELECT id, source, url, fetched_at, status, headers, body FROM pages "
            "WHERE source = ? ORDER BY url",
            (source,),
        ).fetchall()
        for pid, src, url, fetched_at, status, headers, body in rows:
            yield StoredPage(
                pid,
                src,
                url,
                datetime.fromisoformat(fetched_at),
                status,
                json.loads(headers),
                zlib.decompress(body),
            )

    def validators(self, url: str) -> Validators | None:
        row = self._db.execute(
            "SELECT url, etag, last_modified, links, next_url FROM http_cache WHERE url = ?",
            (url,),
        ).fetchone()
        if row is None:
            return None
        return Validators(row[0], row[1], row[2], tuple(json.loads(row[3])), row[4])

    def put_validators(
        self, source: str, validators: Validators, now: datetime | None = None
    ) -> None:
        try:
            with self.transaction():
                self._db.execute(
                    "INSERT OR REPLACE INTO http_cache (url, source, etag, last_modified, links, "
                    "next_url, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        validators.url,
                        source,
                        validators.etag,
                        validators.last_modified,
                        json.dumps(list(validators.links)),
                        validators.next_url,
                        _iso(now or utcnow()),
                    ),
                )
        except sqlite3.Error as exc:
            raise StoreError(
                f"{self.path}: cannot record validators of {validators.url}: {exc}"
            ) from exc

    # -- runs -----------------------------------------------------------------------

    def start_run(self, source: str, trigger: str = "", now: datetime | None = None) -> int:
        """Record that a run of ``source`` started; returns its id."""
        try:
            with self.transaction():
                cursor = self._db.execute(
                    "INSERT INTO runs (source, trigger, started) VALUES (?, ?, ?)",
                    (source, trigger, _iso(now or utcnow())),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot record a run of {source!r}: {exc}") from exc
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        outcome: str,
        counts: dict[str, int] | None = None,
        error: str = "",
        log_tail: str = "",
        now: datetime | None = None,
    ) -> None:
        """Record how run ``run_id`` ended, with its counts."""
        if outcome not in RUN_OUTCOMES or outcome == "running":
            raise ValueError(f"not a final run outcome: {outcome!r}")
        counts = counts or {}
        values = [int(counts.get(name, 0)) for name in RUN_COUNTS]
        try:
            with self.transaction():
                self._db.execute(
                    "UPDATE runs SET finished = ?, outcome = ?, fetched = ?, new = ?, "
                    "updated = ?, unchanged = ?, failed = ?, error = ?, log_tail = ? "
                    "WHERE id = ?",
                    (_iso(now or utcnow()), outcome, *values, error, log_tail, run_id),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot record the end of run {run_id}: {exc}") from exc

    def interrupt_stale_runs(
        self, triggers: Sequence[str], now: datetime | None = None, *, local_only: bool = False
    ) -> int:
        """Mark runs still "running" from ``triggers`` as interrupted: at start-up, the
        process that started them is gone (killed, crashed, machine restarted).
        ``local_only`` leaves runs on Scrapyd nodes alone (a new leader follows those)."""
        marks = ", ".join("?" for _ in triggers)
        local = " AND node = ''" if local_only else ""
        try:
            with self.transaction():
                cursor = self._db.execute(
                    f"UPDATE runs SET outcome = 'interrupted', finished = ?, "
                    f"error = 'the service stopped before the run ended' "
                    f"WHERE outcome = 'running' AND trigger IN ({marks}){local}",
                    (_iso(now or utcnow()), *triggers),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot mark interrupted runs: {exc}") from exc
        return cursor.rowcount

    def last_change(self, source: str) -> datetime | None:
        """When an article of ``source`` was last added or changed (None: it has none).

        Lets a crawl that changed nothing skip rewriting feeds that already show every
        change, while a change whose feed write was lost (a crash, a full disk) still
        gets written by the next run.
        """
        row = self._db.execute(
            "SELECT max(updated) FROM articles WHERE source = ?", (source,)
        ).fetchone()
        return _parse_time(row[0]) if row and row[0] else None

    def sources_finished_since(self, moment: datetime) -> dict[str, datetime]:
        """Sources with a run that ended at or after ``moment``, and their latest end."""
        rows = self._db.execute(
            "SELECT source, max(finished) FROM runs WHERE finished >= ? GROUP BY source",
            (_iso(moment),),
        )
        return {source: datetime.fromisoformat(end) for source, end in rows}


def _schedule_rows(rows: Iterable[tuple[str, Any]], where: object) -> dict[str, datetime]:
    """Persisted next runs, each aware in UTC; a row that does not parse is skipped."""
    state = {}
    for source, value in rows:
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        except (TypeError, ValueError):
            logger.warning(
                "%s: schedule_state: ignoring bad next_run %r of %r", where, value, source
            )
            continue
        state[source] = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return state


_RUN_COLUMNS = ("id", "source", "trigger", "started", "finished", "outcome", *RUN_COUNTS)
_RUN_FIELDS = (*_RUN_COLUMNS, "error", "log_tail", "node", "job")
_SELECT_RUNS = f"SELECT {', '.join(_RUN_FIELDS)} FROM runs"
SQLiteStore._SELECT_RUNS = _SELECT_RUNS


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: feedmill stores aware times only")
    return moment.isoformat(timespec="microseconds")


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _timestamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment else 0.0


def _article_row(article: Article, digest: str, stamp: str) -> tuple[object, ...]:
    assert article.published is not None
    return (
        article.id,
        article.source,
        article.key,
        article.url,
        article.title,
        json.dumps(article.authors, ensure_ascii=False),
        article.agency,
        article.publisher,
        _iso(article.published),
        article.published.timestamp(),
        int(article.date_guessed),
        _iso(article.modified) if article.modified else None,
        article.language,
        article.summary,
        article.body_text,
        article.body_html,
        article.rights,
        json.dumps(article.categories, ensure_ascii=False),
        json.dumps([[link.title, link.url] for link in article.related], ensure_ascii=False),
        article.image,
        digest,
        stamp,
        stamp,
    )


def _json_list(text: str) -> list[Any]:
    # Most articles have one author and no categories or related links.
    return [] if text == "[]" else json.loads(text)


def _article_from_row(row: sqlite3.Row | tuple[object, ...]) -> Article:
    # Positional, in _ARTICLE_COLUMNS order: a feed build reads 50 of these per feed.
    (
        id_,
        source,
        key,
        url,
        title,
        authors,
        agency,
        publisher,
        published,
        _published_ts,
        date_guessed,
        modified,
        language,
        summary,
        body_text,
        body_html,
        rights,
        categories,
        related,
        image,
        content_hash,
        first_seen,
        updated,
    ) = row
    return Article(
        id=id_,
        source=source,
        key=key,
        url=url,
        title=title,
        authors=_json_list(authors),
        agency=agency,
        publisher=publisher,
        published=_parse_time(published),
        date_guessed=bool(date_guessed),
        modified=_parse_time(modified),
        language=language,
        summary=summary,
        body_text=body_text,
        body_html=body_html,
        rights=rights,
        categories=_json_list(categories),
        related=[RelatedLink(title, url) for title, url in _json_list(related)],
        image=image,
        content_hash=content_hash,
        first_seen=_parse_time(first_seen),
        updated=_parse_time(updated),
    )


def _run_from_row(row: tuple[object, ...]) -> Run:
    values = dict(zip(_RUN_FIELDS, row, strict=True))
    values["started"] = _parse_time(values["started"])  # type: ignore[arg-type]
    values["finished"] = _parse_time(values["finished"])  # type: ignore[arg-type]
    return Run(**values)  # type: ignore[arg-type]
