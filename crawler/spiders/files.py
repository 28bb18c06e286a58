"""The spider of ``files`` sources: local text documents in the seed format.

It reads the files itself in ``start()`` and yields items, instead of one file:// Request
per document: through the downloader a request costs ~1.3 ms, reading the file ~20 µs,
and the items still pass through the same pipelines, stats and signals as web pages.

Reading is CPU work (decoding, pinyin stripping, parsing, script conversion: ~0.4 ms
a damaged document), so when many documents changed the spider forks reader processes
(``FILES_WORKERS``, default: the number of CPUs; 1 reads in process) that read, parse
and normalise blocks of documents with the very functions the pipelines use
(:func:`crawler.pipelines.normalise_item`) and send back the items, marked as
normalised, in document order; this process keeps the Scrapy side (pipelines, store,
stats, log). A reader that dies leaves its documents to this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import fnmatch
import hashlib
import os
import pickle
import re
import signal
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from scrapy import Spider
from scrapy.exceptions import CloseSpider

from crawler import runstats
from crawler.decode import DecodeError, decode_document
from crawler.items import ArticleItem, RelatedLink
from crawler.paths import shared_store
from crawler.pipelines import normalise_item
from crawler.run import die_with_parent
from crawler.seedformat import SeedFormatError, parse_seed
from crawler.textclean import strip_pinyin
from feeds import __version__
from feeds.article import article_id
from feeds.config import Source

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
FILES_UNCHANGED = "feedmill/files_unchanged"
# Reader processes pay off from a few hundred documents (a fork costs ~5 ms); blocks of
# this many documents go to the readers in turn, so that items come back in order.
PARALLEL_MIN_DOCUMENTS = 200
BLOCK_DOCUMENTS = 64
_PIPE_BYTES = 1 << 20


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


# One document to read: path, key (relative path), stat result, signature.
_Work = tuple[Path, str, os.stat_result, str]
_Result = tuple[ArticleItem | None, str]

# Items cross the pipe as plain tuples of their fields: pickling the dataclasses
# themselves (a Python-level __getstate__ per article and per related link) cost more
# than a quarter of reading the document.
_FIELDS = tuple(f.name for f in dataclasses.fields(ArticleItem) if f.name != "fetched")
_RELATED = _FIELDS.index("related")


def _pack(result: _Result) -> tuple[Any, ...] | str:
    item, problem = result
    if item is None:
        return problem
    values = [getattr(item, name) for name in _FIELDS]
    values[_RELATED] = [(link.title, link.url) for link in item.related]
    return tuple(values)


def _unpack(packed: tuple[Any, ...] | str) -> _Result:
    if isinstance(packed, str):
        return None, packed
    item = ArticleItem(**dict(zip(_FIELDS, packed, strict=True)))
    item.related = [RelatedLink(title, url) for title, url in item.related]  # type: ignore[misc]
    return item, ""


class DocumentError(ValueError):
    """One document cannot be read or parsed; the run goes on with the next."""


class FilesSpider(Spider):
    """Reads every document of a ``files`` source and yields one article per document."""

    name = "files"
    # Set per source by crawler.loader.SourceSpiderLoader.
    source: ClassVar[Source]

    def __init__(self, *args: Any, reread: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_bytes = DEFAULT_MAX_BYTES
        self.workers = _default_workers()
        # -a reread=1: read every file, even those unchanged since they were stored.
        self.reread = reread not in ("", "0", "false", "no")

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> FilesSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.max_bytes = crawler.settings.getint("FILES_MAX_BYTES", DEFAULT_MAX_BYTES)
        spider.workers = max(1, crawler.settings.getint("FILES_WORKERS", _default_workers()))
        return spider

    async def start(self) -> AsyncIterator[Any]:
        folder = self.source.path
        assert folder is not None
        if not folder.is_dir():
            self.logger.error("source %r: folder %s does not exist", self.name, folder)
            raise CloseSpider("folder_missing")
        stats = self.crawler.stats
        count = unchanged = 0
        now = datetime.now(UTC)
        known = {} if self.reread else shared_store(self.crawler).file_signatures(self.name)
        settings_digest = self.settings_digest()
        work: list[_Work] = []
        # The refresh path: one stat per file, nothing read, parsed or written for the
        # files whose signature is the stored one.
        for name, key in self.document_keys(folder):
            count += 1
            try:
                info = os.stat(name)
            except OSError as exc:
                stats.inc_value(runstats.DOCUMENTS_READ)
                stats.inc_value(runstats.DOCUMENTS_FAILED)
                self.logger.warning("%s: skipped: cannot read: %s", name, exc.strerror or exc)
                continue
            signature = f"{info.st_size}:{info.st_mtime_ns}:{settings_digest}"
            if known and known.get(article_id(self.name, key)) == signature:
                unchanged += 1
                continue
            path = Path(name)
            work.append((path, key, info, signature))
        if unchanged:
            stats.inc_value(runstats.DOCUMENTS_READ, unchanged)
            stats.inc_value(runstats.ARTICLES_UNCHANGED, unchanged)
            stats.inc_value(FILES_UNCHANGED, unchanged)
        if len(work) >= PARALLEL_MIN_DOCUMENTS and self.workers > 1:
            results = self._read_in_parallel(work, now)
        else:
            results = (self._read_one(entry, now) for entry in work)
        for (path, _, _, signature), (item, problem) in zip(work, results, strict=True):
            stats.inc_value(runstats.DOCUMENTS_READ)
            if item is None:
                stats.inc_value(runstats.DOCUMENTS_FAILED)
                self.logger.warning("%s: skipped: %s", path, problem)
                continue
            item.source_signature = signature
            yield item
        if count == 0:
            self.logger.warning(
                "source %r: no documents match %r in %s", self.name, self.source.glob, folder
            )

    def _read_one(self, entry: _Work, now: datetime) -> _Result:
        """One document to a normalised item, or None and the reason it was skipped."""
        path, _, info, _ = entry
        try:
            item = self.read_document(path, now, info)
        except DocumentError as exc:
            return None, str(exc)
        return normalise_item(item, self.source), ""

    def _read_in_parallel(self, work: Sequence[_Work], now: datetime) -> Iterator[_Result]:
        """_read_one for every entry, in order, computed by forked reader processes."""
        # Build what every reader needs before forking, so that they share it: OpenCC's
        # dictionaries, compiled patterns, the time zone.
        normalise_item(
            ArticleItem(source=self.name, key="", title="預熱", body_text="全國(guó)"),
            self.source,
        )
        blocks = [work[i : i + BLOCK_DOCUMENTS] for i in range(0, len(work), BLOCK_DOCUMENTS)]
        readers: list[tuple[int, Any]] = []
        for number in range(min(self.workers, len(blocks))):
            inherited = [stream.fileno() for _, stream in readers if stream is not None]
            readers.append(self._fork_reader(blocks[number :: self.workers], now, inherited))
        try:
            for index, block in enumerate(blocks):
                pid, stream = readers[index % len(readers)]
                results = None
                if stream is not None:
                    try:
                        results = pickle.load(stream)
                    except (EOFError, OSError, pickle.UnpicklingError) as exc:
                        self.logger.warning("reader process %d failed (%s): reading here", pid, exc)
                        stream.close()
                        readers[index % len(readers)] = (pid, None)
                if results is None:
                    results = [None] * len(block)
                for entry, packed in zip(block, results, strict=True):
                    # None: the reader met an unexpected error; read here, and let it raise.
                    yield _unpack(packed) if packed is not None else self._read_one(entry, now)
        finally:
            for pid, stream in readers:
                if stream is not None:
                    stream.close()
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)

    def _fork_reader(
        self, blocks: list[Sequence[_Work]], now: datetime, inherited: Sequence[int] = ()
    ) -> tuple[int, Any]:
        """Fork a process that reads ``blocks`` and pickles one list of results per block
        to a pipe; it ends when done, when this process stops reading (EPIPE), or when
        this process dies (the kernel kills it: no reader outlives a kill -9 of the
        crawl). ``inherited``: the read ends of readers forked before, closed in the
        new one so that each pipe's only reader is this process."""
        read_end, write_end = os.pipe()
        with contextlib.suppress(OSError):  # a bigger pipe lets readers run further ahead
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the reader: never returns
            status = 0
            try:
                die_with_parent(parent)
                os.close(read_end)
                for fd in inherited:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                for name in ("SIGINT", "SIGTERM", "SIGHUP"):
                    signal.signal(getattr(signal, name), signal.SIG_DFL)
                with os.fdopen(write_end, "wb") as out:
                    for block in blocks:
                        results: list[tuple[Any, ...] | str | None] = []
                        for entry in block:
                            try:
                                results.append(_pack(self._read_one(entry, now)))
                            except Exception:
                                results.append(None)
                        pickle.dump(results, out, protocol=pickle.HIGHEST_PROTOCOL)
                        out.flush()
            except BaseException:
                status = 1
            finally:
                os._exit(status)
        os.close(write_end)
        return pid, os.fdopen(read_end, "rb")

    def settings_digest(self) -> str:
        """What besides the file decides its article: the reading settings and feedmill's
        version (a new parser must re-read everything)."""
        source = self.source
        text = "|".join(
            [
                __version__,
                str(source.script),
                source.language,
                source.timezone,
                str(source.encoding),
            ]
        )
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def document_paths(self, folder: Path) -> Iterator[Path]:
        """The documents of the source in a stable order (sorted relative paths)."""
        return (Path(name) for name, _ in self.document_keys(folder))

    def document_keys(self, folder: Path) -> list[tuple[str, str]]:
        """(path, key) of every document as strings, sorted by key (the path relative to
        the folder): a refresh of thousands of unchanged files builds no Path for them."""
        glob = self.source.glob
        if "/" not in glob and "**" not in glob:
            # One folder: a scandir listing (fnmatch, as pathlib's glob matches a name).
            matcher = re.compile(fnmatch.translate(glob)).match
            with os.scandir(folder) as entries:
                found = [
                    (entry.name, entry.path)
                    for entry in entries
                    if matcher(entry.name) and entry.is_file()
                ]
            found.sort()
            return self._nameable([(full, name) for name, full in found])
        paths = [
            (str(p), p.relative_to(folder).as_posix()) for p in folder.glob(glob) if p.is_file()
        ]
        paths.sort(key=lambda pair: pair[1])
        return self._nameable(paths)

    def _nameable(self, paths: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Leave out files whose name is not valid UTF-8 (Python hands them over with
        lone surrogates, which no id, store row or feed can hold), each with a warning."""
        kept = []
        for full, key in paths:
            if key.isascii():
                kept.append((full, key))
                continue
            try:
                key.encode("utf-8")
            except UnicodeEncodeError:
                shown = os.fsencode(full).decode("utf-8", "backslashreplace")
                self.logger.warning("%s: skipped: the file name is not valid UTF-8", shown)
                continue
            kept.append((full, key))
        return kept

    def read_document(
        self, path: Path, now: datetime, info: os.stat_result | None = None
    ) -> ArticleItem:
        """One file to one item, or DocumentError with the reason (``info``: its stat, if
        the caller has it already)."""
        try:
            info = info or path.stat()
            if info.st_size > self.max_bytes:
                raise DocumentError(
                    f"too large ({info.st_size} bytes, the limit is {self.max_bytes}; "
                    "raise FILES_MAX_BYTES to read it)"
                )
            data = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"cannot read: {exc.strerror or exc}") from exc
        try:
            text = decode_document(data, str(path), self.source.encoding)
        except DecodeError as exc:
            # DecodeError already names the file; keep only the reason here.
            raise DocumentError(str(exc).removeprefix(f"{path}: ")) from exc
        file_time = datetime.fromtimestamp(info.st_mtime, UTC)
        try:
            doc = parse_seed(strip_pinyin(text), tz=self.source.tz, file_time=file_time, now=now)
        except SeedFormatError as exc:
            raise DocumentError(str(exc)) from exc
        folder = self.source.path
        assert folder is not None
        return ArticleItem(
            source=self.name,
            key=path.relative_to(folder).as_posix(),
            title=doc.title,
            authors=doc.authors,
            agency=doc.agency,
            publisher=doc.publisher,
            published=doc.published,
            date_guessed=doc.date_guessed,
            language=self.source.language,
            body_text="\n".join(doc.paragraphs),
            rights=doc.rights,
            related=doc.related,
        )
