"""feedmill.toml: the one declarative list of the service and its sources.

The file is read once into frozen dataclasses; every mistake is reported at load time
with the file, the source and the key, so a typo never surfaces as a crawl that silently
does nothing. Runtime knobs (data directory, config path) have safe defaults with
environment overrides, resolved here rather than through a global settings object.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.errors import ConfigError

DEFAULT_CONFIG = "feedmill.toml"
DEFAULT_DATA_DIR = "var"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_FEED_SIZE = 50
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_RUN_TIMEOUT = timedelta(minutes=10)
DEFAULT_MAX_PAGES = 5
DEFAULT_MAX_ARTICLES = 200
DEFAULT_TITLE = "feedmill: all sources"
DEFAULT_DESCRIPTION = "Every article of every source, newest first."
DEFAULT_BATCH_WINDOW = timedelta(seconds=2)
DEFAULT_BATCH_SIZE = 50
DEFAULT_KEEP_RUNS = 100  # finished runs kept per source (run history)
DEFAULT_WORKERS = 8
RUNNERS = ("local", "scrapyd")
DEFAULT_SCRAPYD_PROJECT = "feedmill"
DATABASE_URL_ENV = "FEEDMILL_DATABASE_URL"
SCRAPYD_NODES_ENV = "FEEDMILL_SCRAPYD_NODES"
COMBINED_FEED = "all"
SCRIPTS = ("simplified", "traditional")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a source runs: a fixed interval or a cron expression, with optional jitter."""

    every: timedelta | None = None
    cron: str | None = None
    jitter: timedelta | None = None
    timezone: str | None = None

    def describe(self) -> str:
        """A short human form for tables: ``every 1h`` or ``cron */10 * * * *``."""
        text = f"every {_format_duration(self.every)}" if self.every else f"cron {self.cron}"
        if self.jitter:
            text += f" ±{_format_duration(self.jitter)}"
        return text


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Regular expressions on title, body and author: ``include`` keeps an article when
    any given field matches; ``exclude`` drops it when any matches."""

    include: tuple[tuple[str, re.Pattern[str]], ...] = ()
    exclude: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def keeps(self, fields: dict[str, str]) -> bool:
        if self.include and not any(p.search(fields.get(k, "")) for k, p in self.include):
            return False
        return not any(p.search(fields.get(k, "")) for k, p in self.exclude)


@dataclass(frozen=True, slots=True)
class NamedFeed:
    """An extra feed over a chosen set of sources (``[feeds.NAME]``)."""

    name: str
    sources: tuple[str, ...]
    title: str
    description: str = ""
    feed_size: int = DEFAULT_FEED_SIZE
    filter: EntryFilter = EntryFilter()


@dataclass(frozen=True, slots=True)
class Source:
    """One configured source; ``kind`` picks the spider class that reads it."""

    name: str
    kind: str
    title: str
    link: str = ""
    description: str = ""
    language: str = ""
    script: str | None = None
    timezone: str = "UTC"
    feed_size: int = DEFAULT_FEED_SIZE
    schedule: Schedule | None = None
    timeout: timedelta = DEFAULT_RUN_TIMEOUT  # a run still going after this is stopped
    filter: EntryFilter = EntryFilter()  # include/exclude: which stored articles its feed shows
    # kind = "files"
    path: Path | None = None
    glob: str = "*.txt"
    encoding: str | None = None
    # kind = "web": listing pages, which links are articles, pagination
    start_urls: tuple[str, ...] = ()
    article_links: str = ""  # CSS or XPath selecting <a> elements (or their containers)
    article_pattern: str = ""  # regular expression an article URL must match
    next_page: str = ""  # CSS or XPath of the next listing page's link
    max_pages: int = DEFAULT_MAX_PAGES
    # kind = "feed": upstream RSS/Atom/JSON feeds or sitemaps
    urls: tuple[str, ...] = ()
    full_text: bool = True  # fetch each entry's page; False keeps the feed's own content
    # kind = "web" and "feed"
    rules: tuple[tuple[str, Any], ...] = ()  # site rules: field -> selector(s), as pairs
    refresh_after: timedelta | None = None  # re-fetch stored articles older than this
    max_articles: int = DEFAULT_MAX_ARTICLES  # article pages fetched per run at most
    allowed_domains: tuple[str, ...] = ()

    @property
    def rules_table(self) -> dict[str, Any]:
        return dict(self.rules)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole file: service settings and the sources by name, in file order."""

    path: Path
    base_url: str = DEFAULT_BASE_URL
    title: str = DEFAULT_TITLE
    description: str = DEFAULT_DESCRIPTION
    link: str = ""
    language: str = ""
    feed_size: int = DEFAULT_FEED_SIZE
    data_dir: Path | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str = ""  # for the endpoints that start work; $FEEDMILL_TOKEN wins
    hub: str = ""  # WebSub hub: feeds carry its link, and it is pinged after changes
    # Scheduled runs due within batch_window of each other share one crawler process
    # (up to batch_size sources, crawled in turn); at most `workers` processes at once.
    batch_window: timedelta = DEFAULT_BATCH_WINDOW
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = DEFAULT_WORKERS
    # The newest keep_runs finished runs of each source stay in the run history (with
    # their log files); older ones are forgotten.
    keep_runs: int = DEFAULT_KEEP_RUNS
    # Where articles live: "" is the embedded SQLite file in the data directory, else a
    # sqlite:/// or postgresql:// URL ($FEEDMILL_DATABASE_URL wins).
    database_url: str = ""
    # Where runs happen: "local" child processes, or "scrapyd" jobs on the nodes below
    # (URLs with credentials, $FEEDMILL_SCRAPYD_NODES wins), each with scrapyd_slots slots.
    runner: str = "local"
    scrapyd_nodes: tuple[str, ...] = ()
    scrapyd_project: str = DEFAULT_SCRAPYD_PROJECT
    scrapyd_slots: int = 0
    # Whether the database password travels with each job (it then shows in the nodes'
    # process lists and Scrapyd logs); by default nodes use PGPASSWORD or ~/.pgpass.
    scrapyd_send_password: bool = False
    sources: dict[str, Source] = field(default_factory=dict)
    feeds: dict[str, NamedFeed] = field(default_factory=dict)

    def feed_names(self) -> list[str]:
        """Every feed feedmill writes: each source, the combined feed, the named feeds."""
        return [*self.sources, COMBINED_FEED, *self.feeds]

    def source(self, name: str) -> Source:
        """The source called ``name``; ConfigError listing the known ones otherwise."""
        if name not in self.sources:
            known = ", ".join(self.sources) or "none"
            raise ConfigError(f"{self.path}: no source named {name!r} (known: {known})")
        return self.sources[name]


_SERVICE_KEYS = {
    "base_url",
    "title",
    "description",
    "link",
    "language",
    "feed_size",
    "data_dir",
    "host",
    "port",
    "token",
    "hub",
    "batch_window",
    "batch_size",
    "workers",
    "keep_runs",
    "database_url",
    "runner",
    "scrapyd_nodes",
    "scrapyd_project",
    "scrapyd_slots",
    "scrapyd_send_password",
}

_COMMON_KEYS = {
    "kind",
    "title",
    "link",
    "description",
    "language",
    "script",
    "timezone",
    "feed_size",
    "every",
    "cron",
    "jitter",
    "schedule_timezone",
    "timeout",
    "include",
    "exclude",
}
_FETCH_KEYS = {"rules", "refresh_after", "max_articles", "allowed_domains", "encoding"}
KIND_KEYS: dict[str, set[str]] = {
    "files": {"path", "glob", "encoding"},
    "web": {"start_urls", "article_links", "article_pattern", "next_page", "max_pages"}
    | _FETCH_KEYS,
    "feed": {"url", "urls", "full_text"} | _FETCH_KEYS,
}
# Keys of a source's `rules` table (see crawler.siterules) and the values they take.
RULE_KEYS = {
    "title",
    "body",
    "date",
    "author",
    "related",
    "strip",
    "strip_id_or_class",
    "strip_image_src",
    "single_page_link",
    "next_page_link",
}
RULE_FLAGS = {"prune", "tidy"}


class _Where:
    """Builds error messages that name the file, the source and the key."""

    def __init__(self, path: Path, section: str) -> None:
        self.path = path
        self.section = section

    def error(self, key: str | None, reason: str) -> ConfigError:
        where = f"{self.path}: {self.section}"
        if key is not None:
            where += f", key {key!r}"
        return ConfigError(f"{where}: {reason}")


def resolve_config_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$FEEDMILL_CONFIG``, else ``feedmill.toml`` in the working directory."""
    value = cli_value or os.environ.get("FEEDMILL_CONFIG") or DEFAULT_CONFIG
    return Path(value).expanduser().absolute()


def resolve_data_dir(config: Config, cli_value: str | os.PathLike[str] | None = None) -> Path:
    """``--data-dir``, else ``$FEEDMILL_DATA_DIR``, else the config's, else ``./var``."""
    value = cli_value or os.environ.get("FEEDMILL_DATA_DIR") or config.data_dir or DEFAULT_DATA_DIR
    return Path(value).expanduser().absolute()


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a config file; ConfigError says what is wrong and where."""
    config_path = resolve_config_path(path)
    try:
        raw = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{config_path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_path}: cannot read config file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {exc}") from None
    return parse_config(raw, config_path)


def parse_config(raw: dict[str, Any], config_path: Path) -> Config:
    """Validate an already-parsed TOML document (split out so tests can feed dicts)."""
    top = _Where(config_path, "top level")
    for key in raw:
        if key not in ("service", "sources", "feeds"):
            raise top.error(
                key, "unknown section (expected [service], [sources.NAME] and [feeds.NAME])"
            )
    service = raw.get("service", {})
    where = _Where(config_path, "[service]")
    if not isinstance(service, dict):
        raise top.error("service", "must be a table")
    _reject_unknown(service, _SERVICE_KEYS, where)
    base_url = _string(service, "base_url", where, DEFAULT_BASE_URL).rstrip("/")
    _check_url(base_url, "base_url", where)
    data_dir = service.get("data_dir")
    if data_dir is not None:
        data_dir = config_path.parent / _string(service, "data_dir", where, "")
    sources_raw = raw.get("sources", {})
    if not isinstance(sources_raw, dict):
        raise top.error("sources", "must be a table of [sources.NAME] tables")
    sources = {name: _parse_source(name, entry, config_path) for name, entry in sources_raw.items()}
    feeds_raw = raw.get("feeds", {})
    if not isinstance(feeds_raw, dict):
        raise top.error("feeds", "must be a table of [feeds.NAME] tables")
    feeds = {
        name: _parse_named_feed(name, entry, config_path, sources)
        for name, entry in feeds_raw.items()
    }
    hub = _string(service, "hub", where, "")
    if hub:
        _check_url(hub, "hub", where)
    return Config(
        path=config_path,
        base_url=base_url,
        title=_string(service, "title", where, DEFAULT_TITLE),
        description=_string(service, "description", where, DEFAULT_DESCRIPTION),
        link=_link(service, where),
        language=_language(service, where),
        feed_size=_feed_size(service, where),
        data_dir=data_dir,
        host=_host_setting(service, where),
        port=_whole(service, "port", where, DEFAULT_PORT, 1, 65535),
        token=_string(service, "token", where, ""),
        hub=hub,
        batch_window=(
            _duration(service, "batch_window", where)
            if "batch_window" in service
            else DEFAULT_BATCH_WINDOW
        ),
        batch_size=_whole(service, "batch_size", where, DEFAULT_BATCH_SIZE, 1, 1000),
        workers=_whole(service, "workers", where, DEFAULT_WORKERS, 1, 256),
        keep_runs=_whole(service, "keep_runs", where, DEFAULT_KEEP_RUNS, 1, 1_000_000),
        database_url=_database_url(service, where),
        runner=_runner(service, where),
        scrapyd_nodes=_node_list(service, where),
        scrapyd_project=_string(service, "scrapyd_project", where, DEFAULT_SCRAPYD_PROJECT),
        scrapyd_slots=_whole(service, "scrapyd_slots", where, 0, 0, 4096),
        scrapyd_send_password=_flag(service, "scrapyd_send_password", where),
        sources=sources,
        feeds=feeds,
    )


_FILTER_FIELDS = ("title", "body", "author")


def _entry_filter(entry: dict[str, Any], where: _Where) -> EntryFilter:
    parts: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {}
    for kind in ("include", "exclude"):
        table = entry.get(kind, {})
        if not isinstance(table, dict):
            raise where.error(kind, "must be a table of field = regular expression")
        pairs = []
        for field_name, pattern in table.items():
            key = f"{kind}.{field_name}"
            if field_name not in _FILTER_FIELDS:
                raise where.error(key, f"unknown field (one of: {', '.join(_FILTER_FIELDS)})")
            if not isinstance(pattern, str) or not pattern:
                raise where.error(key, "must be a regular expression")
            try:
                pairs.append((field_name, re.compile(pattern)))
            except re.error as exc:
                raise where.error(key, f"invalid regular expression: {exc}") from None
        parts[kind] = tuple(pairs)
    return EntryFilter(**parts)


def _parse_named_feed(
    name: str, entry: Any, config_path: Path, sources: dict[str, Source]
) -> NamedFeed:
    where = _Where(config_path, f"feed {name!r}")
    if not _NAME.fullmatch(name) or name == COMBINED_FEED or name in sources:
        raise where.error(None, "a feed name must be like a source name and not clash with one")
    if not isinstance(entry, dict):
        raise where.error(None, "must be a table")
    _reject_unknown(
        entry, {"sources", "title", "description", "feed_size", "include", "exclude"}, where
    )
    names = entry.get("sources")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise where.error("sources", "must be a list of source names")
    for source_name in names:
        if source_name not in sources:
            raise where.error("sources", f"no source named {source_name!r}")
    return NamedFeed(
        name=name,
        sources=tuple(names),
        title=_string(entry, "title", where, name),
        description=_string(entry, "description", where, ""),
        feed_size=_feed_size(entry, where),
        filter=_entry_filter(entry, where),
    )


def _parse_source(name: str, entry: Any, config_path: Path) -> Source:
    where = _Where(config_path, f"source {name!r}")
    if not _NAME.fullmatch(name) or name == COMBINED_FEED:
        raise where.error(
            None,
            "a source name must be 1-64 lower-case letters, digits, '-' or '_' "
            f"and not {COMBINED_FEED!r} (the combined feed)",
        )
    if not isinstance(entry, dict):
        raise where.error(None, "must be a table")
    kind = entry.get("kind")
    if kind is None:
        raise where.error("kind", f"missing; one of: {', '.join(KIND_KEYS)}")
    if kind not in KIND_KEYS:
        raise where.error("kind", f"unknown kind {kind!r}; one of: {', '.join(KIND_KEYS)}")
    _reject_unknown(entry, _COMMON_KEYS | KIND_KEYS[kind], where)
    script = entry.get("script")
    if script is not None and script not in SCRIPTS:
        raise where.error("script", f"must be one of {', '.join(SCRIPTS)}, got {script!r}")
    timezone = _string(entry, "timezone", where, "UTC")
    _check_timezone(timezone, where, "timezone")
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "title": _string(entry, "title", where, name),
        "link": _link(entry, where),
        "description": _string(entry, "description", where, ""),
        "language": _language(entry, where),
        "script": script,
        "timezone": timezone,
        "feed_size": _feed_size(entry, where),
        "schedule": _schedule(entry, where),
        "timeout": _timeout(entry, where),
        "filter": _entry_filter(entry, where),
    }
    if kind == "files":
        fields.update(_files_fields(entry, where, config_path))
    else:
        fields.update(_fetch_fields(entry, where))
        if kind == "web":
            fields.update(_web_fields(entry, where))
        else:
            fields.update(_feed_fields(entry, where))
        if not fields["allowed_domains"]:
            seeds = fields.get("start_urls") or fields.get("urls") or ()
            fields["allowed_domains"] = tuple(dict.fromkeys(_host(u) for u in seeds))
    return Source(**fields)


def _timeout(entry: dict[str, Any], where: _Where) -> timedelta:
    if "timeout" not in entry:
        return DEFAULT_RUN_TIMEOUT
    timeout = _duration(entry, "timeout", where)
    if timeout < timedelta(seconds=1):
        raise where.error("timeout", "must be at least 1s")
    return timeout


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "").lower()


def _url_list(entry: dict[str, Any], key: str, where: _Where) -> tuple[str, ...]:
    value = entry.get(key)
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise where.error(key, "must be a URL or a list of URLs")
    for url in values:
        _check_url(url, key, where)
    return tuple(values)


def _check_url(url: str, key: str, where: _Where) -> None:
    """An absolute http(s) URL with a host, a valid port and no white space or controls."""
    from urllib.parse import urlsplit

    problem = ""
    if not re.match(r"^https?://[^/\s]+", url):
        problem = "not an http(s) URL"
    elif _SPACE_OR_CONTROL.search(url):
        problem = "white space or control characters in the URL"
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError as exc:
            problem = f"not a valid URL ({exc})"
        else:
            if not parts.hostname:
                problem = "no host name in the URL"
    if problem:
        raise where.error(key, f"{problem}: {url!r}")


_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
# A BCP 47 language tag's shape: "zh", "zh-CN", "zh-Hans-CN", "en-US".
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# Durations up to ten years: more is a typo, and timedelta overflows soon after.
_MAX_DURATION = timedelta(days=3650)


def _link(table: dict[str, Any], where: _Where) -> str:
    link = _string(table, "link", where, "")
    if link:
        _check_url(link, "link", where)
    return link


def _language(table: dict[str, Any], where: _Where) -> str:
    language = _string(table, "language", where, "")
    if language and not _LANGUAGE_TAG.fullmatch(language):
        raise where.error(
            "language", f"must be a language tag such as 'zh', 'zh-CN' or 'en', got {language!r}"
        )
    return language


def _host_setting(table: dict[str, Any], where: _Where) -> str:
    host = _string(table, "host", where, DEFAULT_HOST)
    if not host or _SPACE_OR_CONTROL.search(host) or "/" in host:
        raise where.error("host", f"must be a host name or IP address, got {host!r}")
    return host


def _selector(table: dict[str, Any], key: str, value: str, where: _Where) -> None:
    """Refuse a selector that is neither valid CSS nor valid XPath. The crawler decides
    which of the two an expression is (crawler.siterules); this check, which must not
    import the crawler, only rejects what neither could read."""
    from lxml import etree

    text = value.strip()
    if not text:
        raise where.error(key, "empty selector")
    try:
        etree.XPath(text)
        return
    except etree.XPathError as exc:
        xpath_error = str(exc)
    try:
        from cssselect import GenericTranslator, SelectorError
    except ImportError:  # pragma: no cover - cssselect comes with the crawler
        return
    # parsel's pseudo-elements, which plain cssselect does not know
    css = re.sub(r"::(?:text|attr\([^)]*\))\s*$", "", text)
    try:
        etree.XPath(GenericTranslator().css_to_xpath(css))
    except (SelectorError, etree.XPathError) as exc:
        raise where.error(
            key,
            f"neither a CSS selector ({exc}) nor an XPath expression ({xpath_error}): {value!r}",
        ) from None


def _fetch_fields(entry: dict[str, Any], where: _Where) -> dict[str, Any]:
    """Keys shared by the kinds that fetch pages over HTTP."""
    fields: dict[str, Any] = {
        "rules": _rules(entry, where),
        "refresh_after": _duration(entry, "refresh_after", where)
        if "refresh_after" in entry
        else None,
        "max_articles": _whole(entry, "max_articles", where, DEFAULT_MAX_ARTICLES, 1, 100_000),
        "allowed_domains": (),
        "encoding": _encoding(entry, where),
    }
    if "allowed_domains" in entry:
        domains = entry["allowed_domains"]
        if not isinstance(domains, list) or not all(isinstance(d, str) for d in domains):
            raise where.error("allowed_domains", "must be a list of host names")
        for domain in domains:
            if not domain or _SPACE_OR_CONTROL.search(domain) or re.search(r"[/:@?#]", domain):
                raise where.error(
                    "allowed_domains", f"must be host names like 'example.org', got {domain!r}"
                )
        fields["allowed_domains"] = tuple(d.lower() for d in domains)
    return fields


def _web_fields(entry: dict[str, Any], where: _Where) -> dict[str, Any]:
    if "start_urls" not in entry:
        raise where.error("start_urls", "missing: the listing page(s) to start from")
    links = _string(entry, "article_links", where, "")
    pattern = _string(entry, "article_pattern", where, "")
    next_page = _string(entry, "next_page", where, "")
    for key, value in (("article_links", links), ("next_page", next_page)):
        if value:
            _selector(entry, key, value, where)
    if not links and not pattern:
        raise where.error(
            "article_links", "missing: give a selector (article_links) and/or article_pattern"
        )
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise where.error("article_pattern", f"invalid regular expression: {exc}") from None
    return {
        "start_urls": _url_list(entry, "start_urls", where),
        "article_links": links,
        "article_pattern": pattern,
        "next_page": next_page,
        "max_pages": _whole(entry, "max_pages", where, DEFAULT_MAX_PAGES, 1, 1000),
    }


def _feed_fields(entry: dict[str, Any], where: _Where) -> dict[str, Any]:
    if "url" in entry and "urls" in entry:
        raise where.error("urls", "give either 'url' or 'urls', not both")
    key = "urls" if "urls" in entry else "url"
    if key not in entry:
        raise where.error("url", "missing: the upstream feed or sitemap URL")
    full_text = entry.get("full_text", True)
    if not isinstance(full_text, bool):
        raise where.error("full_text", "must be true or false")
    return {"urls": _url_list(entry, key, where), "full_text": full_text}


def _rules(entry: dict[str, Any], where: _Where) -> tuple[tuple[str, Any], ...]:
    table = entry.get("rules", {})
    if not isinstance(table, dict):
        raise where.error("rules", "must be a table of field = selector(s)")
    pairs = []
    for key, value in table.items():
        if key in RULE_FLAGS:
            if not isinstance(value, bool):
                raise where.error(f"rules.{key}", "must be true or false")
        elif key in RULE_KEYS:
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise where.error(f"rules.{key}", "must be a selector or a list of selectors")
            if key not in ("strip_id_or_class", "strip_image_src"):  # names, not selectors
                for selector in values:
                    _selector(table, f"rules.{key}", selector, where)
            value = tuple(values)
        else:
            allowed = ", ".join(sorted(RULE_KEYS | RULE_FLAGS))
            raise where.error(f"rules.{key}", f"unknown rule (allowed: {allowed})")
        pairs.append((key, value))
    return tuple(pairs)


def _whole(
    table: dict[str, Any], key: str, where: _Where, default: int, low: int, high: int
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise where.error(key, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _encoding(entry: dict[str, Any], where: _Where) -> str | None:
    encoding = entry.get("encoding")
    if encoding is None:
        return None
    import codecs

    try:
        info = codecs.lookup(_string(entry, "encoding", where, ""))
    except LookupError:
        raise where.error("encoding", f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib, rot13…
        raise where.error("encoding", f"not a text encoding: {encoding!r}")
    return encoding


def _files_fields(entry: dict[str, Any], where: _Where, config_path: Path) -> dict[str, Any]:
    if "path" not in entry:
        raise where.error("path", "missing: the folder that holds the documents")
    folder = config_path.parent / _string(entry, "path", where, "")
    glob = _string(entry, "glob", where, "*.txt")
    reason = _glob_problem(glob)
    if reason:
        raise where.error("glob", f"{reason}: {glob!r}")
    return {"path": folder, "glob": glob, "encoding": _encoding(entry, where)}


def _glob_problem(glob: str) -> str | None:
    """Why ``glob`` cannot select files below the source folder, or None if it can."""
    if not glob.strip():
        return "empty pattern"
    if _SPACE_OR_CONTROL.search(glob.replace(" ", "")):
        return "control characters in pattern"
    if glob.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", glob):
        return "must be relative to the source folder"
    parts = re.split(r"[/\\]", glob)
    if ".." in parts:
        return "must not leave the source folder ('..')"
    if any(part == "" for part in parts):
        return "empty path component"
    depth = 0
    for char in glob:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        return "unbalanced '[' in pattern"
    for part in parts:
        if "**" in part and part != "**":
            return "'**' must be a whole path component"
    return None


def _schedule(entry: dict[str, Any], where: _Where) -> Schedule | None:
    every, cron = entry.get("every"), entry.get("cron")
    if every is not None and cron is not None:
        raise where.error("cron", "give either 'every' or 'cron', not both")
    jitter = _duration(entry, "jitter", where) if "jitter" in entry else None
    tz = entry.get("schedule_timezone")
    if tz is not None:
        _check_timezone(_string(entry, "schedule_timezone", where, ""), where, "schedule_timezone")
    if every is None and cron is None:
        if jitter or tz:
            raise where.error(
                "jitter" if jitter else "schedule_timezone", "needs 'every' or 'cron'"
            )
        return None
    if every is not None:
        interval = _duration(entry, "every", where)
        if interval < timedelta(seconds=1):
            raise where.error("every", "must be at least 1s")
        return Schedule(every=interval, jitter=jitter, timezone=tz)
    expression = _string(entry, "cron", where, "")
    _check_cron(expression, tz, where)
    return Schedule(cron=expression, jitter=jitter, timezone=tz)


def _check_cron(expression: str, tz: str | None, where: _Where) -> None:
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        raise where.error(
            "cron", f"must have 5 fields (min hour day month weekday): {expression!r}"
        )
    try:
        CronTrigger.from_crontab(expression, timezone=tz or "UTC")
    except ValueError as exc:
        raise where.error("cron", f"invalid cron expression {expression!r}: {exc}") from None


def _duration(entry: dict[str, Any], key: str, where: _Where) -> timedelta:
    value = entry[key]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return _bounded(lambda: timedelta(seconds=value), key, where)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or not value:
        raise where.error(key, f"must be a duration like '15m', '1h30m' or '45s', got {value!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return _bounded(
        lambda: timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds), key, where
    )


def _bounded(make: Any, key: str, where: _Where) -> timedelta:
    try:
        value = make()
    except OverflowError:
        value = None
    if value is None or value > _MAX_DURATION:
        raise where.error(key, "must be at most 3650d (ten years)")
    return value


def _format_duration(value: timedelta | None) -> str:
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out += f"{seconds // size}{unit}"
            seconds %= size
    return out or "0s"


def _check_timezone(name: str, where: _Where, key: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise where.error(key, f"unknown time zone {name!r} (use an IANA name)") from None


def _reject_unknown(table: dict[str, Any], allowed: set[str], where: _Where) -> None:
    for key in table:
        if key not in allowed:
            raise where.error(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _database_url(service: dict[str, Any], where: _Where) -> str:
    value = _string(service, "database_url", where, "").strip()
    scheme = value.partition("://")[0] if "://" in value else ""
    if value and scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
        raise where.error("database_url", "must be a sqlite:///path or postgresql://… URL")
    return value


def _flag(table: dict[str, Any], key: str, where: _Where) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise where.error(key, f"must be true or false, got {type(value).__name__}")
    return value


def _runner(service: dict[str, Any], where: _Where) -> str:
    value = _string(service, "runner", where, "local")
    if value not in RUNNERS:
        raise where.error("runner", f"must be one of {', '.join(RUNNERS)}, got {value!r}")
    nodes = service.get("scrapyd_nodes") or os.environ.get(SCRAPYD_NODES_ENV)
    if value == "scrapyd" and not nodes:
        raise where.error("runner", "'scrapyd' needs scrapyd_nodes (a list of node URLs)")
    return value


def _node_list(service: dict[str, Any], where: _Where) -> tuple[str, ...]:
    nodes = service.get("scrapyd_nodes", [])
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        raise where.error("scrapyd_nodes", "must be a list of node URLs (strings)")
    for node in nodes:
        if not re.match(r"https?://[^/\s]+", node):
            shown = re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", node)
            raise where.error("scrapyd_nodes", f"{shown!r} is not an http(s) URL")
    return tuple(nodes)


def scrapyd_nodes(config: Config) -> tuple[str, ...]:
    """The Scrapyd node URLs runs go to: ``$FEEDMILL_SCRAPYD_NODES`` (comma or space
    separated) wins over the config's list, so credentials can stay out of the file."""
    from_env = os.environ.get(SCRAPYD_NODES_ENV, "")
    return tuple(from_env.replace(",", " ").split()) if from_env.strip() else config.scrapyd_nodes


def _string(table: dict[str, Any], key: str, where: _Where, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise where.error(key, f"must be a string, got {type(value).__name__}")
    return value


def _feed_size(table: dict[str, Any], where: _Where) -> int:
    value = table.get("feed_size", DEFAULT_FEED_SIZE)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise where.error("feed_size", f"must be a whole number from 1 to 10000, got {value!r}")
    return value
