"""Throughput of the ``files`` source: seed documents → parse, clean, convert, store.

    python bench/files_throughput.py [--docs N] [--repeat R] [--quick] [--json OUT]

Generates two corpora of N variants of the seed document (``damaged``: pinyin and
Traditional script as in ``seeds/``; ``clean``: the same without pinyin damage, as most
real sources are) and measures, in the same run:

- feedmill: ``python -m crawler.run seeds`` in a child (LOG_LEVEL=INFO, as the scheduler
  runs it) on a fresh data dir: wall time and CPU → docs/s; then the refresh of the
  unchanged documents on the same store, two ways: (a) a second ``python -m crawler.run``
  process (what a CLI user pays, Python and Scrapy start-up included) and (b) inside a
  process that is already running (what a batched scheduler child pays per source): the
  CPU of a crawl of the source, from ``crawl()`` to its end, after a first crawl in the
  same process; both as % of the first run's CPU;
- baseline: a minimal Scrapy spider with one ``file://`` Request per document and a
  trivial parse (``scrapy runspider`` in a child) → docs/s;
- floor: a plain loop in this process calling the same decode + strip_pinyin +
  parse_seed + clean_text/clean_line functions on the same files, no store → docs/s.

Every figure is the median of ``--repeat`` repetitions; ratios are against baselines
measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from common import (
    ROOT,
    clean_env,
    median,
    print_table,
    ratio,
    repeat,
    time_call,
    time_child,
    write_json,
)

from crawler.decode import decode_document
from crawler.seedformat import parse_seed
from crawler.textclean import clean_line, clean_text, strip_pinyin
from feeds.store import SQLiteStore

SEED = ROOT / "seeds" / "000_50086ce4ead14abc.txt"
TARGET_DOCS_PER_S = 5000.0
TARGET_RATIO = 7.0
TARGET_REFRESH_PCT = 5.0
TZ = ZoneInfo("Asia/Shanghai")

CONFIG = """\
[service]
base_url = "http://127.0.0.1:8080"
title = "bench"
feed_size = 50

[sources.seeds]
kind = "files"
path = "{path}"
glob = "*.txt"
language = "zh"
script = "simplified"
timezone = "Asia/Shanghai"
title = "bench seeds"
link = "http://www.tibet.cn/"
"""

BASELINE_SPIDER = """\
from pathlib import Path

import scrapy


class OnePerFile(scrapy.Spider):
    name = "one_per_file"

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder

    async def start(self):
        for path in sorted(Path(self.folder).glob("*.txt")):
            yield scrapy.Request(path.absolute().as_uri(), callback=self.parse)

    def parse(self, response):
        yield {"url": response.url, "size": len(response.body)}
"""


def make_corpus(folder: Path, docs: int, *, clean: bool) -> None:
    """``docs`` variants of the seed: own title and numbers, so ids and hashes differ."""
    folder.mkdir(parents=True)
    seed = SEED.read_text(encoding="utf-8")
    if clean:
        seed = strip_pinyin(seed)
    title, rest = seed.split("\n", 1)
    for i in range(docs):
        text = f"{title}(第{i + 1}期)\n" + rest.replace("共200余人", f"共{200 + i}余人").replace(
            "123個", f"{100 + i % 900}個"
        )
        (folder / f"{i:06d}_bench.txt").write_text(text, encoding="utf-8")


def run_feedmill(work: Path, corpus: Path, docs: int) -> dict[str, float]:
    """A first run on a fresh store, then an unchanged second run on the same store."""
    work.mkdir(parents=True)
    config = work / "feedmill.toml"
    config.write_text(CONFIG.format(path=corpus.as_posix()), encoding="utf-8")
    data = work / "data"
    env = clean_env(FEEDMILL_CONFIG=str(config), FEEDMILL_DATA_DIR=str(data))
    command = [sys.executable, "-m", "crawler.run", "seeds", "-s", "LOG_LEVEL=INFO"]
    _, first = time_child(command, env=env, cwd=ROOT)
    with SQLiteStore(data / "feedmill.sqlite3") as store:
        stored = store.counts().get("seeds", 0)
    if stored != docs:
        raise RuntimeError(f"feedmill stored {stored} of {docs} documents")
    _, second = time_child(command, env=env, cwd=ROOT)
    probe = [sys.executable, str(Path(__file__).resolve()), "--probe-refresh", "3"]
    result, _ = time_child(probe, env=env, cwd=ROOT)
    crawls = json.loads(result.stdout.strip().splitlines()[-1])
    inner = min(crawls[1:], key=lambda c: c["cpu_s"])  # the first pays for the imports
    if inner["read"] != 0:
        raise RuntimeError(f"the in-process refresh read {inner['read']} documents")
    return {
        "wall_s": first.wall,
        "cpu_s": first.cpu,
        "docs_per_s": docs / first.wall,
        "refresh_wall_s": second.wall,
        "refresh_cpu_s": second.cpu,
        "refresh_cpu_pct": 100.0 * ratio(second.cpu, first.cpu),
        "inproc_refresh_wall_s": inner["wall_s"],
        "inproc_refresh_cpu_s": inner["cpu_s"],
        "inproc_refresh_cpu_pct": 100.0 * ratio(inner["cpu_s"], first.cpu),
    }


def probe_refresh(crawls: int) -> None:
    """Crawl the ``seeds`` source ``crawls`` times in turn in this process (settings and
    store from the environment, as ``python -m crawler.run``) and print one JSON list:
    each crawl's CPU and wall seconds from ``crawl()`` to its end, and documents read."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings
    from twisted.internet import defer

    from crawler import runstats

    settings = get_project_settings()
    settings.set("LOG_LEVEL", "WARNING", priority="cmdline")
    process = CrawlerProcess(settings)
    results: list[dict[str, float]] = []

    @defer.inlineCallbacks
    def in_turn():  # type: ignore[no-untyped-def]
        for _ in range(crawls):
            crawler = process.create_crawler("seeds")
            cpu, wall = time.process_time(), time.perf_counter()
            yield process.crawl(crawler)
            stats = crawler.stats.get_stats()
            read = stats.get(runstats.DOCUMENTS_READ, 0) - stats.get("feedmill/files_unchanged", 0)
            results.append(
                {
                    "cpu_s": time.process_time() - cpu,
                    "wall_s": time.perf_counter() - wall,
                    "read": read,
                }
            )

    done = in_turn()
    from twisted.internet import reactor

    done.addBoth(lambda _: reactor.stop() if reactor.running else None)
    if not done.called:
        process.start(stop_after_crawl=False)
    print(json.dumps(results))


def run_baseline(work: Path, corpus: Path, docs: int) -> dict[str, float]:
    """Scrapy with one file:// Request per document, run from a folder with no project."""
    work.mkdir(parents=True)
    spider = work / "one_per_file.py"
    spider.write_text(BASELINE_SPIDER, encoding="utf-8")
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider), "-a"]
    command += [f"folder={corpus}", "-s", "LOG_LEVEL=INFO", "-s", "TELNETCONSOLE_ENABLED=0"]
    result, timing = time_child(command, env=clean_env(), cwd=work)
    if f"'item_scraped_count': {docs}" not in result.stderr:
        raise RuntimeError(f"baseline did not scrape {docs} items:\n{result.stderr[-3000:]}")
    return {"wall_s": timing.wall, "cpu_s": timing.cpu, "docs_per_s": docs / timing.wall}


def floor_loop(corpus: Path) -> int:
    """The same decode, strip_pinyin, parse_seed and cleaning calls, nothing else."""
    now = datetime.now(UTC)
    count = 0
    for path in sorted(corpus.glob("*.txt")):
        data = path.read_bytes()
        file_time = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        text = decode_document(data, str(path), None)
        doc = parse_seed(strip_pinyin(text), tz=TZ, file_time=file_time, now=now)
        clean_line(doc.title, "simplified")
        clean_text("\n".join(doc.paragraphs), "simplified")
        clean_text(doc.rights, "simplified")
        for link in doc.related:
            clean_line(link.title, "simplified")
        count += 1
    return count


def run_floor(corpus: Path, docs: int) -> dict[str, float]:
    count, timing = time_call(lambda: floor_loop(corpus))
    assert count == docs
    return {"wall_s": timing.wall, "cpu_s": timing.cpu, "docs_per_s": docs / timing.wall}


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: median([s[key] for s in samples]) for key in samples[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="500 docs, 1 repetition")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--probe-refresh", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe_refresh:
        probe_refresh(args.probe_refresh)
        return 0
    if args.quick:
        args.docs, args.repeat = 500, 1
    docs, reps = args.docs, max(1, args.repeat)

    results: dict[str, object] = {"docs": docs, "repeat": reps}
    with tempfile.TemporaryDirectory(prefix="feedmill-bench-") as tmp:
        root = Path(tmp)
        corpora = {"damaged": root / "damaged", "clean": root / "clean"}
        for name, folder in corpora.items():
            make_corpus(folder, docs, clean=name == "clean")
        runs = iter(range(10_000))

        def fresh(name: str) -> Path:
            return root / f"{name}-{next(runs)}"

        baseline = medians(
            repeat(reps, lambda: run_baseline(fresh("baseline"), corpora["damaged"], docs))
        )
        results["baseline"] = baseline
        for name, folder in corpora.items():
            results[name] = {
                "feedmill": medians(
                    repeat(reps, lambda f=folder: run_feedmill(fresh("fm"), f, docs))
                ),
                "floor": medians(repeat(reps, lambda f=folder: run_floor(f, docs))),
            }

    base = baseline["docs_per_s"]
    rows = []
    for name in corpora:
        fm = results[name]["feedmill"]  # type: ignore[index]
        fl = results[name]["floor"]  # type: ignore[index]
        speed = fm["docs_per_s"]
        rows.append(
            [
                f"{name}: docs/s vs Scrapy 1 request/file",
                speed,
                base,
                f"{ratio(speed, base):.2f}x",
                f">={TARGET_DOCS_PER_S:,.0f}/s, >={TARGET_RATIO:.0f}x",
                speed >= TARGET_DOCS_PER_S and ratio(speed, base) >= TARGET_RATIO,
            ]
        )
        rows.append(
            [
                f"{name}: docs/s vs plain loop (floor)",
                speed,
                fl["docs_per_s"],
                f"{ratio(speed, fl['docs_per_s']):.2f}x",
                "report",
                None,
            ]
        )
        rows.append(
            [
                f"{name}: refresh as a new process, CPU ms vs first run",
                1000 * fm["refresh_cpu_s"],
                1000 * fm["cpu_s"],
                f"{fm['refresh_cpu_pct']:.1f}%",
                f"<={TARGET_REFRESH_PCT:.0f}%",
                fm["refresh_cpu_pct"] <= TARGET_REFRESH_PCT,
            ]
        )
        rows.append(
            [
                f"{name}: refresh in a running process, CPU ms vs first run",
                1000 * fm["inproc_refresh_cpu_s"],
                1000 * fm["cpu_s"],
                f"{fm['inproc_refresh_cpu_pct']:.1f}%",
                f"<={TARGET_REFRESH_PCT:.0f}%",
                fm["inproc_refresh_cpu_pct"] <= TARGET_REFRESH_PCT,
            ]
        )
    results["rows"] = [
        dict(zip(["figure", "feedmill", "baseline", "ratio", "target", "met"], r, strict=True))
        for r in rows
    ]
    print(f"files throughput: {docs:,} docs, median of {reps} run(s)")
    print_table(["figure", "feedmill", "baseline", "ratio", "target", "met?"], rows)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
