"""The HTTP side of ``feedmill serve``: feed files, article pages, a dashboard and a small API.

An aiohttp application that runs in the same process and event loop as the scheduler.
The scheduler side is reached only through a :class:`Controller` (implemented by the
wiring module), so this module knows nothing about APScheduler or the crawler.

Feeds are served from ``<data dir>/feeds/``, where :mod:`feeds.build` replaces them
atomically. Each file version (path, mtime_ns, size) is read once, hashed into a strong
ETag and gzipped once; later requests cost a ``stat`` and a dict lookup. Store reads and
feed builds run on one worker thread that owns the server's SQLite connection, so the
event loop never waits on the disk or the database.

Only names matching ``[a-z0-9][a-z0-9_-]{0,63}.(rss|atom|json)`` are ever turned into a
path, and only for configured sources and ``all``: nothing outside the feed folder can be
named, however the request path is encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import errno
import gzip
import hashlib
import hmac
import itertools
import json
import logging
import os
import re
import stat
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from aiohttp import web

from feeds.build import build_feeds, feeds_dir
from feeds.config import COMBINED_FEED, Config, Schedule
from feeds.errors import FeedmillError, SourceBusy, UnknownSource
from feeds.pages import (
    SourceStatus,
    article_page,
    dashboard_page,
    flash_message,
    opml_document,
    run_json,
)
from feeds.store import STORE_FILE
from feeds.stores import Store, open_store

__all__ = [
    "BODY_TIMEOUT",
    "CLIENT_MAX_SIZE",
    "HEADER_TIMEOUT",
    "MAX_FIELD_SIZE",
    "MAX_LINE_SIZE",
    "Controller",
    "cache_seconds",
    "make_app",
    "start_server",
]

logger = logging.getLogger(__name__)

MAX_LINE_SIZE = 8190  # request line and header lines
MAX_FIELD_SIZE = 8190  # one header value
MAX_HEADERS = 100  # header lines of one request
CLIENT_MAX_SIZE = 64 * 1024  # request bodies (the run form is a few bytes)
KEEPALIVE_TIMEOUT = 75.0
# A connection must have sent a whole request line and headers this many seconds after
# it was accepted, or it is closed (slow-loris clients; idle connections that never ask).
HEADER_TIMEOUT = 20.0
BODY_TIMEOUT = 20.0  # a request body (the run form) must arrive within this
LINGERING_TIME = 2.0
MIN_MAX_AGE, MAX_MAX_AGE, ON_DEMAND_MAX_AGE = 60, 3600, 3600
GZIP_MIN_SIZE = 256

FEED_FILE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.(rss|atom|json)")  # used with fullmatch
_SOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ARTICLE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FEED_CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"feed.xsl": "text/xsl; charset=utf-8"}

HTML_TYPE = "text/html; charset=utf-8"
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; form-action 'self'"
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
DISABLED_MESSAGE = "disabled: set FEEDMILL_TOKEN"


class Controller(Protocol):
    """What the server needs from the scheduler side (implemented by the wiring module)."""

    def config(self) -> Config: ...

    async def run_now(self, source: str) -> int:
        """Start a run of ``source`` now; its run id. Raises UnknownSource / SourceBusy."""
        ...

    def running(self) -> dict[str, int]:
        """Source → id of the run under way."""
        ...

    def next_runs(self) -> dict[str, datetime | None]: ...

    def health(self) -> dict[str, Any]:
        """Scheduler state etc., JSON-able."""
        ...


# --------------------------------------------------------------------------- helpers


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _http_date(timestamp: float) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


_ETAG_LIST = re.compile(r'\s*(?:(?:(W/)?("[^"]*")|(\*))\s*)?(?:,|$)')


def _if_none_match(header: str, tags: tuple[str, ...]) -> str | None:
    """The tag (of ``tags``) that an ``If-None-Match`` list matches by strong comparison,
    ``"*"`` for a wildcard, None when nothing matches."""
    position = 0
    while position < len(header):
        match = _ETAG_LIST.match(header, position)
        if match is None or match.end() == position:
            return None  # malformed: treat as no match, serve the full response
        position = match.end()
        weak, tag, star = match.groups()
        if star:
            return "*"
        if not weak and tag in tags:
            return tag
    return None


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since is None:
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(mtime) <= since.timestamp()


@lru_cache(maxsize=256)
def _accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (q-values respected, ``*`` understood)."""
    gzip_q: float | None = None
    star_q: float | None = None
    for part in header.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding in ("gzip", "x-gzip"):
            gzip_q = q if gzip_q is None else max(gzip_q, q)
        elif coding == "*":
            star_q = q
    if gzip_q is not None:
        return gzip_q > 0
    return star_q is not None and star_q > 0


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}
    all_headers.update(headers or {})
    return web.Response(body=body, status=status, headers=all_headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": message}, status=status, headers=headers)


def _interval(schedule: Schedule) -> float | None:
    """Seconds between two runs: the interval, or the shortest gap of a cron's next runs."""
    if schedule.every is not None:
        return schedule.every.total_seconds()
    if schedule.cron is None:
        return None
    return _cron_gap(schedule.cron, schedule.timezone or "UTC")


@lru_cache(maxsize=256)
def _cron_gap(expression: str, timezone: str) -> float | None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError:
        return None
    now = datetime.now(UTC)
    fires: list[datetime] = []
    previous = None
    for _ in range(8):
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        fires.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(fires)]
    return min(gaps) if gaps else None


def cache_seconds(config: Config, name: str) -> int:
    """``max-age`` of a feed: a quarter of its source's interval, clamped to 60..3600;
    ``all`` follows the most frequent source; a source without a schedule gets 3600."""
    if name == COMBINED_FEED or name in config.feeds:
        members = config.feeds[name].sources if name in config.feeds else config.sources
        schedules = [
            config.sources[m].schedule for m in members if config.sources[m].schedule is not None
        ]
    else:
        source = config.sources.get(name)
        schedules = [source.schedule] if source is not None and source.schedule else []
    intervals = [i for i in (_interval(s) for s in schedules) if i is not None]
    if not intervals:
        return ON_DEMAND_MAX_AGE
    return int(max(MIN_MAX_AGE, min(MAX_MAX_AGE, min(intervals) / 4)))


# --------------------------------------------------------------------------- file cache


@dataclass(frozen=True, slots=True)
class _FileVersion:
    """One version of a served file, read and prepared once."""

    key: tuple[int, int, int]  # (mtime_ns, size, inode): a rename always changes it
    body: bytes
    gzipped: bytes | None  # None when compression does not pay
    etag: str
    gzip_etag: str
    mtime: float
    last_modified: str  # the HTTP date of mtime, formatted once


@dataclass(frozen=True, slots=True)
class _FeedRoute:
    """A feed file name that passed every check under one configuration, with what does
    not change between requests: the fast path's state (see :meth:`_Server.feed`)."""

    config: Config  # checked against this configuration (a reload makes a new object)
    name: str
    path: Path
    path_str: str
    content_type: str
    cache_control: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The header sets of one feed version under one route, built once: a 304 or a 200
    is then a copy of a ready mapping."""

    version: _FileVersion
    route: _FeedRoute
    not_modified: dict[str, dict[str, str]]  # by the ETag the request matched exactly
    plain: dict[str, str]
    gzip: dict[str, str] | None


def _read_version(path: Path) -> _FileVersion | None:
    """Read ``path`` and prepare its ETags and gzip body (runs on a worker thread)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        logger.warning("%s: cannot open: %s", path, exc)
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            return None
        body = handle.read()
    etag = _etag(body)
    gzipped: bytes | None = None
    if len(body) >= GZIP_MIN_SIZE:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    return _FileVersion(
        key=(info.st_mtime_ns, info.st_size, info.st_ino),
        body=body,
        gzipped=gzipped,
        etag=etag,
        gzip_etag=etag[:-1] + '-gz"',
        mtime=info.st_mtime,
        last_modified=_http_date(info.st_mtime),
    )


def _prepare(version: _FileVersion, route: _FeedRoute) -> _Prepared:
    """The header sets :meth:`_Server._send_version` would build for ``version``, for
    the cases the fast path answers: a 304 to an ``If-None-Match`` that is exactly one
    of its ETags, and a 200 with or without gzip."""
    common = {
        "Last-Modified": version.last_modified,
        "Cache-Control": route.cache_control,
        "Vary": "Accept-Encoding",
    }
    return _Prepared(
        version=version,
        route=route,
        # _send_version accepts either ETag of the file and answers with the one matched.
        not_modified={tag: {"ETag": tag, **common} for tag in (version.etag, version.gzip_etag)},
        plain={"ETag": version.etag, **common, "Content-Type": route.content_type},
        gzip=None
        if version.gzipped is None
        else {
            "ETag": version.gzip_etag,
            **common,
            "Content-Type": route.content_type,
            "Content-Encoding": "gzip",
        },
    )


# --------------------------------------------------------------------------- the server


class _Server:
    """Handlers and their shared state (one per application)."""

    def __init__(
        self,
        controller: Controller,
        data_dir: Path,
        token: str | None,
        database_url: str | None = None,
    ) -> None:
        self.controller = controller
        self.data_dir = Path(data_dir)
        self.database_url = database_url or str(self.data_dir / STORE_FILE)
        self.feeds_dir = feeds_dir(self.data_dir)
        self._token_digest = hashlib.sha256(token.encode("utf-8")).digest() if token else None
        self._files: dict[Path, _FileVersion] = {}
        # Feed file name → its checked route and the prepared headers of its current
        # version; only names that passed every check get an entry (bounded by the feeds).
        self._routes: dict[str, _FeedRoute] = {}
        self._prepared: dict[str, _Prepared] = {}
        # One thread owns the SQLite connection: store reads and feed builds queue on it.
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feedmill-http-db")
        self._store: Store | None = None

    # -- plumbing -------------------------------------------------------------------

    def _open_store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.database_url)
        return self._store

    def _on_store(self, work: Callable[[Store], Any]) -> Any:
        store = self._open_store()
        try:
            return work(store)
        except Exception:
            # A dropped database connection (a PostgreSQL restart, a network cut) would
            # fail every later request: the next one opens a new connection.
            with contextlib.suppress(Exception):
                store.close()
            self._store = None
            raise

    async def _db(self, work: Callable[[Store], Any]) -> Any:
        """Run ``work(store)`` on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_thread, self._on_store, work)

    async def close(self, _app: web.Application | None = None) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._db_thread, close_store)
        self._db_thread.shutdown(wait=True)

    async def _file(self, path: Path) -> _FileVersion | None:
        """The current version of ``path`` (None when missing), from the cache when the
        file's (mtime_ns, size) has not changed."""
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            self._files.pop(path, None)
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        cached = self._files.get(path)
        if cached is not None and cached.key == (info.st_mtime_ns, info.st_size, info.st_ino):
            return cached
        version = await asyncio.get_running_loop().run_in_executor(None, _read_version, path)
        if version is not None:
            self._files[path] = version
        return version

    def _authorize(self, presented: str | None) -> str:
        """Whether a presented token is "ok", "disabled" (none configured) or "unauthorized"."""
        if self._token_digest is None:
            return "disabled"
        if not presented:
            return "unauthorized"
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        return "ok" if hmac.compare_digest(digest, self._token_digest) else "unauthorized"

    async def _statuses(self, config: Config) -> list[SourceStatus]:
        running = self.controller.running()
        next_runs = self.controller.next_runs()
        counts, last = await self._db(lambda store: (store.counts(), store.last_runs()))
        return [
            SourceStatus(
                source=source,
                next_run=next_runs.get(name),
                running_run=running.get(name),
                last_run=last.get(name),
                articles=counts.get(name, 0),
            )
            for name, source in config.sources.items()
        ]

    @staticmethod
    def _conditional(
        request: web.Request, tags: tuple[str, ...], mtime: float | None
    ) -> str | None:
        """The ETag to answer 304 with, or None to send the full response."""
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            matched = _if_none_match(if_none_match, tags)
            if matched is None:
                return None
            return tags[0] if matched == "*" else matched
        if_modified_since = request.headers.get("If-Modified-Since")
        if (
            mtime is not None
            and if_modified_since
            and _not_modified_since(if_modified_since, mtime)
        ):
            return tags[0]
        return None

    def _cached_bytes(
        self,
        request: web.Request,
        body: bytes,
        content_type: str,
        cache_control: str,
        extra: dict[str, str] | None = None,
    ) -> web.Response:
        """A 200 (or 304) for generated bytes with a strong ETag of those bytes."""
        tag = _etag(body)
        headers = {"ETag": tag, "Cache-Control": cache_control, **(extra or {})}
        if self._conditional(request, (tag,), None):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        return web.Response(body=body, headers=headers)

    # -- feeds and static files ------------------------------------------------------

    async def feed(self, request: web.Request) -> web.StreamResponse:
        """A feed file. The common requests (a reader polling with the ETag it has, or
        fetching the feed) take a fast path: the name's checks, content type and
        ``max-age`` are remembered per configuration, the file costs one ``lstat`` (so a
        new version is served as soon as it is renamed into place), and the headers of
        each version are built once. Anything else goes through :meth:`_send_version`."""
        filename = request.match_info.get("filename", "")
        config = self.controller.config()
        route = self._routes.get(filename)
        if route is None or route.config is not config:
            route = self._route(config, filename)
            if route is None:
                return _error(404, "no such feed")
        try:
            info = os.lstat(route.path_str)
        except (FileNotFoundError, NotADirectoryError):
            info = None
        prepared = self._prepared.get(filename)
        if (
            info is not None
            and prepared is not None
            and prepared.route is route
            and prepared.version.key == (info.st_mtime_ns, info.st_size, info.st_ino)
            and stat.S_ISREG(info.st_mode)
        ):
            headers = request.headers
            if_none_match = headers.get("If-None-Match")
            if if_none_match is not None:
                ready = prepared.not_modified.get(if_none_match)
                if ready is not None:
                    return web.Response(status=304, headers=ready)
            elif "If-Modified-Since" not in headers:
                version = prepared.version
                if prepared.gzip is not None and _accepts_gzip(headers.get("Accept-Encoding", "")):
                    return web.Response(body=version.gzipped, headers=prepared.gzip)
                return web.Response(body=version.body, headers=prepared.plain)
        version = await self._file(route.path)
        if version is None:
            await self._build(config, route.name, route.path)
            version = await self._file(route.path)
            if version is None:
                return _error(503, "feed not available yet")
        if prepared is None or prepared.version is not version or prepared.route is not route:
            self._prepared[filename] = _prepare(version, route)
        return self._send_version(request, version, route.content_type, route.cache_control)

    def _route(self, config: Config, filename: str) -> _FeedRoute | None:
        """Check a requested feed file name (the only way a name becomes a path); None
        when it is not one of the configured feeds."""
        if not FEED_FILE.fullmatch(filename):
            return None
        name, fmt = filename.rsplit(".", 1)
        if name not in config.sources and name != COMBINED_FEED and name not in config.feeds:
            return None
        path = self.feeds_dir / filename
        route = _FeedRoute(
            config=config,
            name=name,
            path=path,
            path_str=str(path),
            content_type=FEED_CONTENT_TYPES[fmt],
            cache_control=f"public, max-age={cache_seconds(config, name)}",
        )
        if len(self._routes) > 4 * len(config.feed_names()) + 16:  # old configurations
            self._routes.clear()
            self._prepared.clear()
        self._routes[filename] = route
        return route

    async def _build(self, config: Config, name: str, path: Path) -> None:
        def build(store: Store) -> None:
            if path.exists():  # another request built it while this one queued
                return
            build_feeds(config, store, self.feeds_dir, [name])

        logger.info("feed %s is missing: building it from the store", path.name)
        await self._db(build)

    def _send_version(
        self, request: web.Request, version: _FileVersion, content_type: str, cache_control: str
    ) -> web.Response:
        use_gzip = version.gzipped is not None and _accepts_gzip(
            request.headers.get("Accept-Encoding", "")
        )
        tag = version.gzip_etag if use_gzip else version.etag
        headers = {
            "ETag": tag,
            "Last-Modified": version.last_modified,
            "Cache-Control": cache_control,
            "Vary": "Accept-Encoding",
        }
        tags = (tag, version.etag, version.gzip_etag)
        matched = self._conditional(request, tags, version.mtime)
        if matched is not None:
            headers["ETag"] = matched
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = content_type
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=version.gzipped, headers=headers)
        return web.Response(body=version.body, headers=headers)

    async def static(self, request: web.Request) -> web.StreamResponse:
        filename = request.match_info.get("filename", "")
        content_type = STATIC_FILES.get(filename)
        if content_type is None:
            return _error(404, "not found")
        version = await self._file(STATIC_DIR / filename)
        if version is None:
            logger.error("static file %s is missing from the installation", filename)
            return _error(404, "not found")
        return self._send_version(request, version, content_type, "public, max-age=3600")

    # -- pages -------------------------------------------------------------------------

    async def article(self, request: web.Request) -> web.StreamResponse:
        article_id = request.match_info.get("article_id", "")
        if not _ARTICLE_ID.fullmatch(article_id):
            return _error(404, "no such article")
        try:
            uuid.UUID(article_id)
        except ValueError:
            return _error(404, "no such article")
        article = await self._db(lambda store: store.get(article_id))
        if article is None:
            return _error(404, "no such article")
        source = self.controller.config().sources.get(article.source)
        body = article_page(article, source).encode("utf-8")
        return self._cached_bytes(
            request, body, HTML_TYPE, "public, max-age=300", extra=HTML_HEADERS
        )

    async def opml(self, request: web.Request) -> web.StreamResponse:
        body = opml_document(self.controller.config())
        return self._cached_bytes(
            request, body, "text/x-opml; charset=utf-8", "public, max-age=300"
        )

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        config = self.controller.config()
        statuses = await self._statuses(config)
        leadership = self.controller.health().get("leadership") or {}
        standby = leadership.get("role") == "standby"
        notice = ""
        if standby:
            holder = leadership.get("holder") or "another feedmill serve"
            notice = f"This node is the standby scheduler: runs are started by {holder}."
        page = dashboard_page(
            config,
            statuses,
            flash=flash_message(request.query, config),
            run_enabled=self._token_digest is not None and not standby,
            notice=notice,
        )
        headers = {**HTML_HEADERS, "Content-Type": HTML_TYPE, "Cache-Control": "no-store"}
        return web.Response(body=page.encode("utf-8"), headers=headers)

    async def run_form(self, request: web.Request) -> web.StreamResponse:
        """The dashboard's "run now" form: same checks as the API, then back to ``/``."""
        name = request.match_info.get("name", "")
        form = await _read_body(request, form=True)
        token = form.get("token")
        outcome = self._authorize(token if isinstance(token, str) else None)
        query: dict[str, str] = {"flash": outcome, "source": name}
        if outcome == "ok":
            try:
                query["run"] = str(await self._start(name))
                query["flash"] = "started"
            except UnknownSource:
                query = {"flash": "unknown"}
            except SourceBusy:
                query["flash"] = "busy"
            except FeedmillError as exc:
                logger.error("run form: cannot start a run of %r: %s", name, exc)
                query["flash"] = "error"
        elif outcome == "unauthorized":
            logger.warning("run form for %r: wrong or missing token", name[:64])
        raise web.HTTPSeeOther(location="/?" + urlencode(query))

    # -- API ----------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        config = self.controller.config()
        return _json(
            {"status": "ok", "scheduler": self.controller.health(), "sources": len(config.sources)}
        )

    async def api_sources(self, request: web.Request) -> web.StreamResponse:
        config = self.controller.config()
        statuses = await self._statuses(config)
        return _json([status.as_json(config) for status in statuses])

    async def api_runs(self, request: web.Request) -> web.StreamResponse:
        config = self.controller.config()
        source = request.query.get("source") or None
        if source is not None and source not in config.sources:
            return _error(404, "unknown source")
        limit_text = request.query.get("limit", "20")
        if not re.fullmatch(r"[0-9]{1,4}", limit_text) or not 1 <= int(limit_text) <= 1000:
            return _error(400, "limit must be a whole number from 1 to 1000")
        limit = int(limit_text)
        runs = await self._db(lambda store: store.runs(source, limit))
        return _json([run_json(run) for run in runs])

    async def api_run(self, request: web.Request) -> web.StreamResponse:
        await _read_body(request)  # bounded in size and time before anything starts
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        presented = credentials.strip() if scheme.lower() == "bearer" else None
        outcome = self._authorize(presented)
        if outcome == "disabled":
            return _error(403, DISABLED_MESSAGE)
        if outcome != "ok":
            logger.warning("run API: wrong or missing bearer token from %s", request.remote)
            return _error(
                401,
                "missing or wrong bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="feedmill"'},
            )
        name = request.match_info.get("name", "")
        try:
            run_id = await self._start(name)
        except UnknownSource:
            return _error(404, "unknown source")
        except SourceBusy:
            return _json(
                {
                    "error": "source is already running",
                    "run_id": self.controller.running().get(name),
                },
                status=409,
            )
        except FeedmillError as exc:
            # The store cannot record the run (disk full, read-only), the child cannot
            # be spawned, or the service is stopping: say so, the caller may retry.
            logger.error("run API: cannot start a run of %r: %s", name, exc)
            return _error(503, f"cannot start the run: {exc}")
        return _json(
            {"run_id": run_id, "source": name},
            status=202,
            headers={"Location": f"/api/runs?source={name}"},
        )

    async def _start(self, name: str) -> int:
        if not _SOURCE_NAME.fullmatch(name) or name not in self.controller.config().sources:
            raise UnknownSource(name)
        run_id = await self.controller.run_now(name)
        logger.info("run %s of %s started from the web", run_id, name)
        return run_id


# --------------------------------------------------------------------------- app


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_ERROR_MESSAGES = {
    400: "bad request",
    404: "not found",
    405: "method not allowed",
    408: "request body too slow",
    413: "request body too large",
}
# Answers after which the connection is closed: the rest of the request is not read.
_CLOSE_AFTER = frozenset({408, 413})


async def _read_body(request: web.Request, *, form: bool = False) -> Any:
    """The request's body (its form fields when ``form``), read within BODY_TIMEOUT and
    CLIENT_MAX_SIZE: 408 for a client that trickles it, 413 for one that is too large."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await (request.post() if form else request.read())
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None


# Connections accepted less than their header deadline ago that have not yet sent a
# whole request (see :class:`_HeaderDeadline`); each stays here at most that long.
_AWAITING_REQUEST: set[Any] = set()


@web.middleware
async def _errors_and_logging(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Short JSON errors (tracebacks go to the log only) and one DEBUG line per request
    (its arguments are only worked out when DEBUG is on: this runs for every request)."""
    debug = logger.isEnabledFor(logging.DEBUG)
    started = time.perf_counter() if debug else 0.0
    _AWAITING_REQUEST.discard(request.protocol)  # it sent a whole request in time
    try:
        length = request.content_length
        if length is not None and length > CLIENT_MAX_SIZE:
            raise web.HTTPRequestEntityTooLarge(CLIENT_MAX_SIZE, length)
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects: aiohttp sends them
            if debug:
                logger.debug("%s %s -> %d", request.method, request.path_qs[:300], exc.status)
            raise
        else:
            keep = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
            message = _ERROR_MESSAGES.get(exc.status, exc.reason.lower())
            response = _error(exc.status, message, headers=keep)
            if exc.status in _CLOSE_AFTER:
                response.force_close()
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        response = _error(500, "internal error")
    if debug:
        logger.debug(
            "%s %s %s -> %d (%.1f ms)",
            request.remote,
            request.method,
            request.path_qs[:300],
            response.status,
            (time.perf_counter() - started) * 1000,
        )
    return response


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "feedmill"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


SERVER_KEY = web.AppKey("feedmill_server", _Server)


def make_app(
    controller: Controller,
    data_dir: Path,
    *,
    token: str | None,
    database_url: str | None = None,
) -> web.Application:
    """The aiohttp application. ``token`` guards everything that starts work; None (or
    empty) disables those endpoints (403) rather than leaving them open. The store is
    ``database_url`` (default: the SQLite file in ``data_dir``)."""
    app = web.Application(
        client_max_size=CLIENT_MAX_SIZE,
        middlewares=[_errors_and_logging],
        handler_args={
            "max_line_size": MAX_LINE_SIZE,
            "max_field_size": MAX_FIELD_SIZE,
            "max_headers": MAX_HEADERS,
            "keepalive_timeout": KEEPALIVE_TIMEOUT,
            # After a refusal (413, 408) the unread rest of a body is drained this long
            # at most (so the client sees the answer), then the connection is closed.
            "lingering_time": LINGERING_TIME,
            "access_log": None,  # one DEBUG line per request comes from the middleware
        },
    )
    server = _Server(controller, data_dir, token or None, database_url)
    app[SERVER_KEY] = server
    app.on_response_prepare.append(_common_headers)
    app.on_cleanup.append(server.close)
    app.router.add_get("/", server.dashboard)
    app.router.add_get("/feeds/{filename}", server.feed)
    app.router.add_get("/static/{filename}", server.static)
    app.router.add_get("/articles/{article_id}", server.article)
    app.router.add_get("/opml", server.opml)
    app.router.add_get("/healthz", server.healthz)
    app.router.add_get("/api/sources", server.api_sources)
    app.router.add_get("/api/runs", server.api_runs)
    app.router.add_post("/api/sources/{name}/run", server.api_run)
    app.router.add_post("/sources/{name}/run", server.run_form)
    return app


class _HeaderDeadline:
    """The protocol factory of the listening socket: aiohttp's, plus a deadline per
    connection. A connection that has not sent a whole request (line and headers)
    ``timeout`` seconds after it was accepted is closed, however it trickles bytes.

    aiohttp has no deadline for a request's headers; older releases start their
    keep-alive timer only after a first response, so a client that connects and never
    completes a request, or sends one byte at a time, would hold its socket and file
    descriptor for ever (3.14 closes it after the keep-alive timeout, 75 s here). After
    the first request, aiohttp's keep-alive timeout bounds the wait for the next one.
    """

    def __init__(self, factory: Callable[[], Any], timeout: float) -> None:
        self._factory = factory
        self._timeout = timeout

    def __call__(self) -> Any:
        protocol = self._factory()
        if self._timeout > 0:
            _AWAITING_REQUEST.add(protocol)
            asyncio.get_running_loop().call_later(self._timeout, _close_if_no_request, protocol)
        return protocol


def _close_if_no_request(protocol: Any) -> None:
    if protocol not in _AWAITING_REQUEST:
        return  # a request came in (the middleware took it off)
    _AWAITING_REQUEST.discard(protocol)
    if getattr(protocol, "transport", None) is not None:
        logger.debug("closing a connection that sent no complete request in time")
        protocol.force_close()


class _Runner(web.AppRunner):
    """An AppRunner whose sites listen through :class:`_HeaderDeadline`."""

    def __init__(self, app: web.Application, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._guarded: _HeaderDeadline | None = None
        self._header_timeout = header_timeout

    @property
    def server(self) -> Any:
        server = super().server
        if server is None:
            return None
        if self._guarded is None or self._guarded._factory is not server:
            self._guarded = _HeaderDeadline(server, self._header_timeout)
        return self._guarded


async def start_server(
    app: web.Application,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    header_timeout: float | None = None,
) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` in the running loop; the caller cleans up the runner.

    A connection that has not sent a whole request ``header_timeout`` seconds (default
    :data:`HEADER_TIMEOUT`) after it was accepted is closed.

    Raises OSError (errno kept) with a message naming the address when it cannot listen,
    e.g. because the port is taken.
    """
    runner = _Runner(
        app,
        header_timeout=HEADER_TIMEOUT if header_timeout is None else header_timeout,
        access_log=None,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        hint = (
            " (is another feedmill serve or another program using it? choose another port)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {reason}{hint}") from exc
    for address in runner.addresses:
        logger.info("serving on http://%s:%s/", *address[:2])
    return runner
