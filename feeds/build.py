"""Store → renderer → files: writes each feed atomically, and only when it changed.

A feed file is replaced with ``os.replace`` from a temporary file in the same folder, so
a reader (or the HTTP server) sees the old feed or the new one, never half of one; and
an unchanged feed keeps its bytes and its modification time, so its ETag and
Last-Modified do not churn and readers are not told to download it again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from feeds import __version__
from feeds.article import Article, language_tag
from feeds.config import COMBINED_FEED, Config, EntryFilter, Source
from feeds.pages import STYLESHEET_HREF, with_stylesheet
from feeds.render import RENDERERS, FeedMeta
from feeds.store import SQLiteStore

logger = logging.getLogger(__name__)

FEEDS_SUBDIR = "feeds"
EXTENSIONS = {"rss": "rss", "atom": "atom", "json": "json"}
FILTER_LOOKBACK = 5  # a filtered feed looks at this many times feed_size articles


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One written (or already current) feed file."""

    name: str
    fmt: str
    path: Path
    changed: bool
    entries: int


def feeds_dir(data_dir: Path) -> Path:
    return data_dir / FEEDS_SUBDIR


def feed_path(out_dir: Path, name: str, fmt: str) -> Path:
    return out_dir / f"{name}.{EXTENSIONS[fmt]}"


def source_meta(config: Config, source: Source) -> FeedMeta:
    return FeedMeta(
        name=source.name,
        title=source.title,
        link=source.link,
        description=source.description or source.title,
        language=_feed_language(source),
        base_url=config.base_url,
        generator="feedmill",
        generator_version=__version__,
        author=source.title,
        hub=config.hub,
    )


def combined_meta(config: Config) -> FeedMeta:
    languages = {_feed_language(s) for s in config.sources.values()}
    return FeedMeta(
        name=COMBINED_FEED,
        title=config.title,
        link=config.link,
        description=config.description,
        language=config.language or (languages.pop() if len(languages) == 1 else ""),
        base_url=config.base_url,
        generator="feedmill",
        generator_version=__version__,
        author=config.title,
        hub=config.hub,
    )


def _feed_language(source: Source) -> str:
    return language_tag(source.language, source.script)


def build_feeds(
    config: Config, store: SQLiteStore, out_dir: Path, names: Iterable[str] | None = None
) -> list[FeedFile]:
    """Render and write the feeds of ``names`` (sources, ``all`` or named feeds; every
    feed when None). A named feed that covers a requested source is rewritten with it."""
    wanted = list(names) if names is not None else config.feed_names()
    for feed in config.feeds.values():
        if feed.name not in wanted and any(source in wanted for source in feed.sources):
            wanted.append(feed.name)
    written: list[FeedFile] = []
    for name in wanted:
        meta, articles = feed_content(config, store, name)
        for fmt, (render, _content_type) in RENDERERS.items():
            path = feed_path(out_dir, name, fmt)
            data = render(meta, articles)
            if fmt in ("rss", "atom"):
                # Opened in a browser, the feed shows as a page instead of raw XML.
                data = with_stylesheet(data, STYLESHEET_HREF)
            changed = write_if_changed(path, data)
            written.append(FeedFile(name, fmt, path, changed, len(articles)))
            if changed:
                logger.info("wrote %s (%d entries)", path, len(articles))
    return written


def feed_content(config: Config, store: SQLiteStore, name: str) -> tuple[FeedMeta, list[Article]]:
    """What feed ``name`` says about itself and its entries, newest first."""
    if name == COMBINED_FEED:
        return combined_meta(config), store.latest_in(list(config.sources), config.feed_size)
    if name in config.feeds:
        feed = config.feeds[name]
        meta = replace(
            combined_meta(config), name=name, title=feed.title, description=feed.description
        )
        return meta, _filtered(store, feed.sources, feed.feed_size, feed.filter)
    source = config.source(name)
    return source_meta(config, source), _filtered(store, (name,), source.feed_size, source.filter)


def _filtered(
    store: SQLiteStore, sources: tuple[str, ...], size: int, entry_filter: EntryFilter
) -> list[Article]:
    """The newest ``size`` articles of ``sources`` that pass ``entry_filter``."""
    if not entry_filter:
        return store.latest_in(list(sources), size)
    # Read further back so a strict filter still fills the feed; bounded, not a scan.
    candidates = store.latest_in(list(sources), size * FILTER_LOOKBACK)
    kept = [
        a
        for a in candidates
        if entry_filter.keeps({"title": a.title, "body": a.body_text, "author": a.author})
    ]
    return kept[:size]


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly that."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def notify_hub(config: Config, written: Iterable[FeedFile]) -> int:
    """Ping the WebSub hub (if one is configured) for every feed file that changed."""
    if not config.hub:
        return 0
    from feeds.websub import publish

    urls = [f"{config.base_url}/feeds/{f.path.name}" for f in written if f.changed]
    return publish(config.hub, urls) if urls else 0
