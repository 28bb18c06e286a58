"""The files spider's reader processes give exactly what reading in process gives.

With many changed documents the spider forks readers (FILES_WORKERS) that read, parse
and normalise blocks of documents and send the items back in order; these tests hold
that path to the in-process one, item for item, including skipped documents and a
reader that dies half-way.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from test_files_spider import scrapy_crawl

from crawler.spiders.files import PARALLEL_MIN_DOCUMENTS, FilesSpider
from feeds.config import load_config

from support import FIXTURES, ROOT, SEED_NAME

DOCS = PARALLEL_MIN_DOCUMENTS + 37


def make_documents(folder: Path, count: int = DOCS) -> None:
    """Variants of the seed (own title, so own content), plus documents that fail."""
    title, rest = (FIXTURES / "seeds" / SEED_NAME).read_text(encoding="utf-8").split("\n", 1)
    for i in range(count):
        (folder / f"{i:04d}_doc.txt").write_text(f"{title}(第{i}期)\n{rest}", encoding="utf-8")
    (folder / "0050_empty.txt").write_bytes(b"")
    (folder / "0100_binary.txt").write_bytes(bytes(range(256)) * 4)
    (folder / "0150_gbk.txt").write_bytes(f"{title}\n{rest}".encode("gb18030"))


def spider_for(project: Path, workers: int) -> FilesSpider:
    config = load_config(project / "feedmill.toml")

    class Seeds(FilesSpider):
        name = "seeds"
        source = config.sources["seeds"]

    spider = Seeds()
    spider.workers = workers
    return spider


def work_of(spider: FilesSpider) -> list[Any]:
    return [
        (Path(name), key, os.stat(name), "sig")
        for name, key in spider.document_keys(spider.source.path)  # type: ignore[arg-type]
    ]


def test_readers_give_the_same_items_in_the_same_order(project: Path) -> None:
    make_documents(project / "seeds")
    spider = spider_for(project, workers=2)
    work = work_of(spider)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    serial = [spider._read_one(entry, now) for entry in work]
    parallel = list(spider._read_in_parallel(work, now))
    assert parallel == serial
    assert sum(item is None for item, _ in parallel) == 2  # the empty and the binary file
    for (item, _), (expected, _) in zip(parallel, serial, strict=True):
        if item is not None:
            assert item.normalised and expected is not None
            assert item.published == expected.published
            assert item.published.tzinfo is expected.published.tzinfo  # type: ignore[union-attr]


def test_documents_of_a_reader_that_dies_are_read_in_process(project: Path) -> None:
    make_documents(project / "seeds")
    spider = spider_for(project, workers=2)
    parent = os.getpid()
    read_one = spider._read_one

    def dying(entry: Any, now: datetime) -> Any:
        if os.getpid() != parent and entry[1] == "0070_doc.txt":
            os._exit(3)
        return read_one(entry, now)

    spider._read_one = dying  # type: ignore[method-assign]
    work = work_of(spider)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert list(spider._read_in_parallel(work, now)) == [read_one(entry, now) for entry in work]


def stored_rows(store: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(store) as db:
        return db.execute(
            "SELECT id, key, title, authors, agency, publisher, published, date_guessed, "
            "language, summary, body_text, body_html, rights, related, content_hash "
            "FROM articles ORDER BY id"
        ).fetchall()


def test_a_crawl_with_readers_stores_what_a_crawl_without_stores(
    project: Path, tmp_path: Path
) -> None:
    make_documents(project / "seeds")
    stores = {}
    logs = {}
    for workers in (1, 2):
        store = tmp_path / f"store-{workers}" / "feedmill.sqlite3"
        result = scrapy_crawl(project, "seeds", f"STORE_PATH={store}", f"FILES_WORKERS={workers}")
        assert result.returncode == 0, result.stderr[-3000:]
        stores[workers] = stored_rows(store)
        logs[workers] = [
            line.split(": ", 1)[1] for line in result.stderr.splitlines() if "skipped" in line
        ]
    assert len(stores[1]) == DOCS + 2  # + the seed and the GBK copy; empty and binary skipped
    assert stores[2] == stores[1]
    assert logs[2] == logs[1] and len(logs[1]) == 2
    shutil.rmtree(tmp_path / "store-1")


def test_repository_seed_crawl_is_unchanged_by_readers() -> None:
    # The seed folder has fewer documents than PARALLEL_MIN_DOCUMENTS: no reader starts.
    assert len(list((ROOT / "seeds").glob("*.txt"))) < PARALLEL_MIN_DOCUMENTS
