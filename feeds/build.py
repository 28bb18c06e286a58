"""Store → renderer → files: writes each feed atomically, and only when it changed.

A feed file is replaced with ``os.replace`` from a temporary file in the same folder, so
a reader (or the HTTP server) sees the old feed or the new one, never half of one; and
an unchanged feed keeps its bytes and its modification time, so its ETag and
Last-Modified do not churn and readers are not told to download it again.

A rebuild after a run touches only the feeds whose articles changed, and does not even
render the others: next to each feed's files a small ``.<name>.inputs`` record keeps a
digest of what the files were rendered from (the renderer version, the feed's metadata,
and each entry's id, content hash and dates, which the store changes on every edit)
and the size and mtime of each file written. When a build finds the same digest and
the files as recorded, the feed is current and is skipped: a refresh of an unchanged
source then costs the store query and nothing else. Anything unexpected (no record, a
file replaced or deleted by hand, an article without a content hash) renders as before.
"""

from __future__ import annotations

import hashlib
import json
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
from feeds.render import FORMATS, FeedMeta, render_feeds
from feeds.stores import Store

logger = logging.getLogger(__name__)

FEEDS_SUBDIR = "feeds"
EXTENSIONS = {"rss": "rss", "atom": "atom", "json": "json"}
FILTER_LOOKBACK = 5  # a filtered feed looks at this many times feed_size articles
# Bump when the renderer's output changes for the same input, so that feeds recorded as
# current are rendered again.
RENDER_VERSION = 1


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
    config: Config, store: Store, out_dir: Path, names: Iterable[str] | None = None
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
        inputs = _inputs_digest(meta, articles)
        paths = {fmt: feed_path(out_dir, name, fmt) for fmt in FORMATS}
        if inputs is not None and _is_current(out_dir, name, inputs, paths):
            written.extend(FeedFile(name, fmt, paths[fmt], False, len(articles)) for fmt in FORMATS)
            continue
        files: dict[str, list[int]] = {}
        for fmt, data in render_feeds(meta, articles).items():
            path = paths[fmt]
            if fmt in ("rss", "atom"):
                # Opened in a browser, the feed shows as a page instead of raw XML.
                data = with_stylesheet(data, STYLESHEET_HREF)
            changed = write_if_changed(path, data)
            written.append(FeedFile(name, fmt, path, changed, len(articles)))
            if changed:
                logger.info("wrote %s (%d entries)", path, len(articles))
            files[fmt] = _file_key(path)
        if inputs is not None:
            _record_inputs(out_dir, name, inputs, files)
    return written


# --------------------------------------------------------------------------- skip


def _inputs_digest(meta: FeedMeta, articles: list[Article]) -> str | None:
    """A digest of everything a feed's bytes depend on; None when an article did not come
    from the store (no content hash vouches for its content)."""
    digest = hashlib.sha256()
    digest.update(f"{RENDER_VERSION}\n{STYLESHEET_HREF}\n{meta!r}\n".encode())
    for a in articles:
        if not a.content_hash:
            return None
        stamp = (a.id, a.content_hash, a.published, a.date_guessed, a.first_seen, a.updated)
        digest.update(repr(stamp).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _inputs_path(out_dir: Path, name: str) -> Path:
    # A dot file: neither the server nor the nginx example serve names starting with one.
    return out_dir / f".{name}.inputs"


def _file_key(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns, info.st_ino]


def _is_current(out_dir: Path, name: str, inputs: str, paths: dict[str, Path]) -> bool:
    """Whether the files of ``name`` were rendered from ``inputs`` and are untouched."""
    try:
        record = json.loads(_inputs_path(out_dir, name).read_text(encoding="utf-8"))
        if record.get("inputs") != inputs:
            return False
        files = record["files"]
        return all(files.get(fmt) == _file_key(path) for fmt, path in paths.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _record_inputs(out_dir: Path, name: str, inputs: str, files: dict[str, list[int]]) -> None:
    """Note what the files of ``name`` were rendered from (best effort: without the
    record the next build renders again, which is only slower)."""
    record = json.dumps({"inputs": inputs, "files": files}, sort_keys=True).encode("utf-8")
    try:
        write_if_changed(_inputs_path(out_dir, name), record, sync=False)
    except OSError as exc:
        logger.warning("%s: cannot record the feed's inputs: %s", out_dir, exc)


def feed_content(config: Config, store: Store, name: str) -> tuple[FeedMeta, list[Article]]:
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
    store: Store, sources: tuple[str, ...], size: int, entry_filter: EntryFilter
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


def write_if_changed(path: Path, data: bytes, *, sync: bool = True) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly that
    (``sync=False``: without fsync, for files that are only a cache)."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid in the name: a file left by a writer that was killed half-way
    # is known as such and removed by the next write of the same file.
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _remove_abandoned(path)
    return True


def _remove_abandoned(path: Path) -> None:
    """Remove the temporary files of ``path`` whose writer is gone (a kill -9, a crash,
    the scheduler's SIGKILL at a timeout, a power cut): they are never served (dot
    files), but would pile up over months. A writer that is still running keeps its."""
    _sweep(path.parent, f".{path.name}.")


def remove_abandoned(out_dir: Path) -> int:
    """Remove every feed temp file in ``out_dir`` whose writer is gone; how many.

    Each write cleans up after killed writers of the same file, but a feed whose bytes
    do not change is never written again: ``feedmill serve`` sweeps at start-up, which
    is when a kill -9 of the last service is noticed.
    """
    return _sweep(out_dir, ".")


def _sweep(folder: Path, prefix: str) -> int:
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.startswith(prefix)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        if not name.endswith(".tmp"):
            continue
        # .<feed file name>.<pid>.<random>.tmp (see write_if_changed)
        parts = name[:-4].split(".")
        writer = parts[-2] if len(parts) >= 4 else ""
        if not writer.isdigit():
            continue
        try:
            written = (folder / name).stat().st_mtime
        except OSError:
            continue
        if _running(int(writer), since=written):
            continue
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as exc:
            logger.debug("cannot remove %s: %s", name, exc)
            continue
        removed += 1
        logger.info("removed %s, left by a writer that did not finish", name)
    return removed


def _running(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` is alive (and, given ``since``, started before that time:
    pids are reused, and a process that started after the temp file was last written
    cannot be the one that wrote it)."""
    if not 0 < pid <= 1 << 22:  # no process has that pid (Linux's largest pid_max)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process
        return True
    state, started = _proc_stat(pid)
    # A zombie writes nothing: a crawler child SIGKILLed with its service stays one
    # until its new parent reaps it, which is late or never where pid 1 is no init.
    if state in ("Z", "X"):
        return False
    # A process that started after the file was last written is not its writer.
    return since is None or started is None or started <= since + 1.0


def _proc_stat(pid: int) -> tuple[str | None, float | None]:
    """Process ``pid``'s state letter and start time (epoch seconds) from /proc; None
    for what cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None, None
    state = fields[0] if fields else None
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            boot = next(int(line.split()[1]) for line in stat if line.startswith("btime "))
        return state, boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return state, None


def notify_hub(config: Config, written: Iterable[FeedFile]) -> int:
    """Ping the WebSub hub (if one is configured) for every feed file that changed."""
    if not config.hub:
        return 0
    from feeds.websub import publish

    urls = [f"{config.base_url}/feeds/{f.path.name}" for f in written if f.changed]
    return publish(config.hub, urls) if urls else 0
