"""Feed rendering speed: the latest 50 articles of one source from a large store, as RSS,
Atom and JSON, against feedgen alone building RSS and Atom for the same 50 entries.

    python bench/feeds_render.py [--articles N] [--sources S] [--quick] [--json OUT]

Target: feedmill (``store.latest`` + ``render_feeds`` for RSS, Atom and JSON, exactly as
``feeds.build.build_feeds`` does it, minus writing the files) takes at most 2x the time
of feedgen alone (plain ``FeedGenerator`` code, articles already in memory) on the same
50 entries, with 1,000,000 articles in the store. The judged figure is *cold*: the
renderer's cache of prepared entries is cleared before every repetition, as in a fresh
crawl process; the *warm* figure is what a long-lived process pays when the entries are
already prepared (a rebuild where few of the 50 changed).

Second target: a rebuild after a run touches only the feeds whose articles changed. The
script builds one source's feed files into a scratch folder, builds them again with the
store unchanged, and reports the time of that rebuild (no rendering: the inputs digest
recorded beside the files matches) and how many files it rewrote (must be 0); that a
changed article rewrites exactly its feeds is shown by ``tests/test_build_incremental.py``.

The store is generated with direct ``executemany`` INSERTs into a file whose schema was
created by ``SQLiteStore`` (so the migrations and indexes are the real ones) and cached
under the temp dir keyed by the article count, so a rerun starts at once. Every source's
newest articles carry ~3 KB HTML bodies (those are the ones a feed shows); older ones
carry short bodies, which keeps a million-row store around a few hundred MB.

Each repetition times both sides back to back on the same source (sources rotate, the
order of the two sides alternates); the table shows medians, and ratios are always
against the baseline measured in this run. ``--json OUT`` writes the figures, with a
``rows`` list (figure, feedmill, baseline, ratio, target, met) for a combined report.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from feedgen.feed import FeedGenerator  # noqa: E402

from feeds import render  # noqa: E402
from feeds.article import Article, article_id  # noqa: E402
from feeds.build import build_feeds, feed_content  # noqa: E402
from feeds.config import Config, parse_config  # noqa: E402
from feeds.store import SQLiteStore  # noqa: E402

FEED_SIZE = 50
RICH_PER_SOURCE = 60  # the newest articles of each source get full ~3 KB bodies
CACHE_VERSION = 1  # bump when the generated data changes
TARGET_RATIO = 2.0
EPOCH_END = datetime(2025, 6, 1, tzinfo=UTC)

_WORDS = (
    "market",
    "policy",
    "council",
    "river",
    "energy",
    "school",
    "harbour",
    "festival",
    "railway",
    "museum",
    "report",
    "season",
    "village",
    "budget",
    "election",
    "climate",
    "research",
    "minister",
    "hospital",
    "league",
    "district",
    "airport",
    "festival",
    "orchestra",
    "bridge",
    "coastline",
    "satellite",
    "factory",
    "farmers",
    "library",
    "startup",
    "highway",
    "vaccine",
    "drought",
    "archive",
    "parliament",
    "tourism",
    "reservoir",
)
_ZH = "新华社北京电记者从国家发展改革委获悉今年以来各地加快推进重大项目建设经济运行总体平稳"


# --------------------------------------------------------------------------- the store


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _zh_sentence(rng: random.Random, chars: int) -> str:
    return "".join(rng.choice(_ZH) for _ in range(chars)) + "。"


def _body(rng: random.Random, zh: bool, target: int) -> tuple[str, str]:
    """(body_text, body_html) of about ``target`` bytes of HTML."""
    paragraphs: list[str] = []
    size = 0
    while size < target:
        if zh:
            para = "".join(_zh_sentence(rng, rng.randint(20, 40)) for _ in range(3))
        else:
            para = " ".join(_sentence(rng, rng.randint(8, 16)) for _ in range(4))
        paragraphs.append(para)
        size += len(para.encode("utf-8")) + 7
    html_parts = [f"<p>{p}</p>" for p in paragraphs]
    if len(paragraphs) > 2:
        html_parts.insert(2, '<figure><img src="https://img.example.com/a.jpg" alt=""></figure>')
    return "\n".join(paragraphs), "".join(html_parts)


def source_names(sources: int) -> list[str]:
    return [f"src{i:03d}" for i in range(sources)]


def _rows(articles: int, sources: int, seed: int = 7) -> Iterator[tuple[object, ...]]:
    """Article rows in the column order of the ``articles`` table."""
    rng = random.Random(seed)
    names = source_names(sources)
    per_source, extra = divmod(articles, sources)
    stamp = EPOCH_END.isoformat(timespec="microseconds")
    for index, source in enumerate(names):
        count = per_source + (1 if index < extra else 0)
        zh = index % 4 == 0
        language = "zh-CN" if zh else "en"
        host = f"news{index:03d}.example.com"
        # Newest first: one article every ~2 hours, with jitter.
        moment = EPOCH_END - timedelta(minutes=rng.randint(0, 600))
        short_text, short_html = _body(rng, zh, 200)
        for n in range(count):
            moment -= timedelta(minutes=rng.randint(30, 200))
            key = f"https://{host}/{moment:%Y/%m/%d}/story-{n}.html"
            title = _zh_sentence(rng, 18) if zh else _sentence(rng, rng.randint(6, 11))
            if n < RICH_PER_SOURCE:
                body_text, body_html = _body(rng, zh, 3000)
            else:
                body_text, body_html = short_text, short_html
            summary = body_text[: 200 if n < RICH_PER_SOURCE else 100]
            authors = [f"Reporter {rng.randint(1, 50)}"] + (
                [f"Editor {rng.randint(1, 9)}"] if n % 3 == 0 else []
            )
            categories = rng.sample(_WORDS, 2)
            related = [
                [_sentence(rng, 5), f"https://{host}/related/{rng.randint(1, 10**6)}.html"]
                for _ in range(2 if n < RICH_PER_SOURCE else 0)
            ]
            published = moment.isoformat(timespec="microseconds")
            yield (
                article_id(source, key),
                source,
                key,
                key,
                title,
                json.dumps(authors, ensure_ascii=False),
                "Example Wire",
                host,
                published,
                moment.timestamp(),
                0,
                None,
                language,
                summary,
                body_text,
                body_html,
                f"© 2025 {host}",
                json.dumps(categories, ensure_ascii=False),
                json.dumps(related, ensure_ascii=False),
                f"https://img.example.com/{index}/{n}.jpg",
                f"{rng.getrandbits(128):032x}{index:08x}{n:024x}",
                published,
                stamp,
            )


def store_path(articles: int, sources: int) -> Path:
    base = Path(tempfile.gettempdir()) / "feedmill-bench"
    return base / f"store-{articles}-{sources}-v{CACHE_VERSION}.sqlite3"


def make_store(path: Path, articles: int, sources: int, log: Callable[[str], None]) -> Path:
    """Generate (once) a store of ``articles`` articles over ``sources`` sources at ``path``."""
    if path.exists():
        log(f"store: reusing {path} ({path.stat().st_size / 1e6:.0f} MB)")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    for leftover in (partial, *(Path(f"{partial}{s}") for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    SQLiteStore(partial).close()  # the real schema, migrations and indexes
    db = sqlite3.connect(partial, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # 256 MB
        columns = [row[1] for row in db.execute("PRAGMA table_info(articles)")]
        sql = (
            f"INSERT INTO articles ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        db.execute("BEGIN")
        rows = _rows(articles, sources)
        while True:
            batch = [row for _, row in zip(range(20_000), rows, strict=False)]
            if not batch:
                break
            db.executemany(sql, batch)
        db.execute("COMMIT")
        db.execute("ANALYZE")
        db.execute("PRAGMA journal_mode = WAL")
    finally:
        db.close()
    os.replace(partial, path)
    log(
        f"store: generated {articles:,} articles over {sources} sources in "
        f"{time.perf_counter() - started:.1f}s ({path.stat().st_size / 1e6:.0f} MB) at {path}"
    )
    return path


def bench_config(sources: int, where: Path) -> Config:
    """A config naming the generated sources (kind files; their folders are never read)."""
    raw = {
        "service": {"base_url": "http://127.0.0.1:8080", "feed_size": FEED_SIZE},
        "sources": {
            name: {
                "kind": "files",
                "path": "docs",
                "title": f"Example news {name}",
                "link": f"https://news{name[3:]}.example.com/",
                "description": f"Stories from {name}",
                "language": "zh" if int(name[3:]) % 4 == 0 else "en",
                "script": "simplified" if int(name[3:]) % 4 == 0 else None,
            }
            for name in source_names(sources)
        },
    }
    for entry in raw["sources"].values():
        if entry["script"] is None:
            del entry["script"]
    return parse_config(raw, where / "feedmill.toml")


# --------------------------------------------------------------------------- the two sides


def feedmill_render(config: Config, store: SQLiteStore, name: str, *, cold: bool = True) -> int:
    """What ``feeds.build.build_feeds`` does for one source, minus writing the files;
    ``cold``: with the renderer's prepared-entry cache emptied first."""
    if cold:
        render.clear_cache()
    meta, articles = feed_content(config, store, name)
    return sum(len(data) for data in render.render_feeds(meta, articles).values())


def feedgen_baseline(name: str, articles: Sequence[Article]) -> int:
    """Plain feedgen: one FeedGenerator per format, the same entries, nothing else."""
    total = 0
    for fmt in ("rss", "atom"):
        fg = FeedGenerator()
        fg.title(f"Example news {name}")
        fg.id(f"http://127.0.0.1:8080/feeds/{name}.atom")
        fg.link(href=f"http://127.0.0.1:8080/feeds/{name}.{fmt}", rel="self")
        fg.link(href=f"https://news{name[3:]}.example.com/", rel="alternate")
        fg.description(f"Stories from {name}")
        fg.author(name=f"Example news {name}")
        fg.updated(articles[0].published if articles else EPOCH_END)
        for article in articles:
            fe = fg.add_entry(order="append")
            fe.id(f"urn:uuid:{article.id}")
            fe.guid(f"urn:uuid:{article.id}", permalink=False)
            fe.title(article.title)
            fe.link(href=article.url)
            fe.published(article.published)
            fe.updated(article.published)
            for author in article.authors:
                fe.author(name=author)
            fe.summary(article.summary)
            fe.content(article.body_html, type="CDATA" if fmt == "rss" else "html")
            for category in article.categories:
                fe.category(term=category)
        if fmt == "rss":
            total += len(fg.rss_str(pretty=True))
        else:
            total += len(fg.atom_str(pretty=True))
    return total


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------- main


def rebuild_figures(config: Config, store: SQLiteStore, name: str, repeat: int) -> dict:
    """Build ``name``'s feeds into a scratch folder, then rebuild them unchanged."""
    out = Path(tempfile.mkdtemp(prefix="feedmill-bench-feeds-"))
    render.clear_cache()
    started = time.perf_counter()
    first = build_feeds(config, store, out, [name])
    first_ms = (time.perf_counter() - started) * 1000
    stats = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}
    times, rewritten = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        again = build_feeds(config, store, out, [name])
        times.append((time.perf_counter() - started) * 1000)
        rewritten += sum(f.changed for f in again)
    untouched = all((p.stat().st_mtime_ns, p.stat().st_ino) == stats[p.name] for p in out.iterdir())
    for leftover in out.iterdir():
        leftover.unlink()
    out.rmdir()
    return {
        "first_build_ms": round(first_ms, 3),
        "first_build_files": sum(f.changed for f in first),
        "rebuild_ms": round(statistics.median(times), 3),
        "rebuild_files_rewritten": rewritten,
        "rebuild_untouched": untouched,
        "files": len(first),
    }


def run(args: argparse.Namespace) -> dict[str, object]:
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    path = make_store(store_path(args.articles, args.sources), args.articles, args.sources, log)
    names = source_names(args.sources)
    rng = random.Random(11)
    picked = rng.sample(names, min(10, len(names)))
    workdir = Path(tempfile.mkdtemp(prefix="feedmill-bench-"))
    config = bench_config(args.sources, workdir)
    store = SQLiteStore(path)
    try:
        plan = store.explain_latest(picked[0])
        total_articles = sum(store.counts().values())
        entries = {name: store.latest(name, FEED_SIZE) for name in picked}
        meta_of = {name: feed_content(config, store, name)[0] for name in picked}
        for name in picked:  # warm up both sides (imports, page cache)
            feedmill_render(config, store, name)
            feedgen_baseline(name, entries[name])
        samples: dict[str, list[float]] = {
            k: []
            for k in ("feedmill", "warm", "baseline", "query", "prepare", "rss", "atom", "json")
        }
        for rep in range(args.repeat):
            name = picked[rep % len(picked)]
            arts, meta = entries[name], meta_of[name]
            feedmill = partial(feedmill_render, config, store, name)
            baseline = partial(feedgen_baseline, name, arts)
            for side, fn in (("baseline", baseline), ("feedmill", feedmill))[:: 1 - 2 * (rep % 2)]:
                samples[side].append(_timed(fn))
            warm = partial(feedmill_render, config, store, name, cold=False)
            samples["warm"].append(_timed(warm))
            samples["query"].append(_timed(partial(store.latest, name, FEED_SIZE)))
            render.clear_cache()
            prepare = partial(render._entries, meta, arts)
            samples["prepare"].append(_timed(prepare))
            prepared = prepare()
            for fmt in ("rss", "atom", "json"):
                serialize = render._SERIALIZERS[fmt]
                samples[fmt].append(_timed(partial(serialize, meta, prepared)))
        sizes = {
            fmt: len(data)
            for fmt, data in render.render_feeds(meta_of[picked[0]], entries[picked[0]]).items()
        }
        rebuild = rebuild_figures(config, store, picked[0], max(3, args.repeat // 4))
    finally:
        store.close()
    med = {k: statistics.median(v) for k, v in samples.items()}
    uses_index = "USING INDEX articles_source_newest" in plan or (
        "articles_source_newest" in plan and "SCAN articles" not in plan.replace("USING", "")
    )
    result: dict[str, object] = {
        "articles": total_articles,
        "sources": args.sources,
        "repeat": args.repeat,
        "store": str(path),
        "store_mb": round(path.stat().st_size / 1e6, 1),
        "feed_bytes": sizes,
        "query_plan": plan,
        "query_uses_index": uses_index,
        "feedmill_ms": round(med["feedmill"], 3),
        "feedmill_warm_ms": round(med["warm"], 3),
        "baseline_ms": round(med["baseline"], 3),
        "ratio": round(med["feedmill"] / med["baseline"], 3),
        "warm_ratio": round(med["warm"] / med["baseline"], 3),
        "target_ratio": TARGET_RATIO,
        "met": med["feedmill"] <= TARGET_RATIO * med["baseline"],
        "query_ms": round(med["query"], 3),
        "prepare_ms": round(med["prepare"], 3),
        "render_rss_ms": round(med["rss"], 3),
        "render_atom_ms": round(med["atom"], 3),
        "render_json_ms": round(med["json"], 3),
        "rebuild": rebuild,
    }
    result["rows"] = table_rows(result)
    return result


def _row(
    figure: str, feedmill: float, baseline: float | None, target: str, met: bool | None
) -> dict[str, object]:
    ratio = round(feedmill / baseline, 3) if baseline else None
    return {
        "figure": figure,
        "feedmill": feedmill,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": met,
    }


def table_rows(result: dict[str, object]) -> list[dict[str, object]]:
    """The figures as rows for the combined report: ms, against feedgen's ms."""
    base = float(result["baseline_ms"])  # type: ignore[arg-type]
    rebuild = result["rebuild"]
    assert isinstance(rebuild, dict)
    arts = f"{result['articles']:,}"
    rows = [
        _row(
            f"latest-50 RSS+Atom+JSON, cold, {arts}-article store vs feedgen alone (ms)",
            float(result["feedmill_ms"]),  # type: ignore[arg-type]
            base,
            f"≤ {TARGET_RATIO:g}x",
            bool(result["met"]),
        ),
        _row(
            "  the same, warm (entries already prepared) (ms)",
            float(result["feedmill_warm_ms"]),  # type: ignore[arg-type]
            base,
            "report",
            None,
        ),
    ]
    for key, label in (
        ("query_ms", "store.latest(source, 50)"),
        ("prepare_ms", "prepare 50 entries (clean, dates, content)"),
        ("render_rss_ms", "serialize RSS"),
        ("render_atom_ms", "serialize Atom"),
        ("render_json_ms", "serialize JSON"),
    ):
        rows.append(_row(f"  {label} (ms)", float(result[key]), base, "", None))  # type: ignore[arg-type]
    rows.append(
        _row(
            "rebuild of one source's 3 feed files, store unchanged vs first build (ms)",
            float(rebuild["rebuild_ms"]),
            float(rebuild["first_build_ms"]),
            "report",
            None,
        )
    )
    rows.append(
        _row(
            "  files rewritten by those rebuilds (must be 0)",
            float(rebuild["rebuild_files_rewritten"]),
            float(rebuild["first_build_files"]),
            "0",
            rebuild["rebuild_files_rewritten"] == 0 and bool(rebuild["rebuild_untouched"]),
        )
    )
    return rows


def print_table(result: dict[str, object]) -> None:
    print(
        f"store: {result['articles']:,} articles, {result['sources']} sources, "
        f"{result['store_mb']} MB; feed sizes {result['feed_bytes']}; "
        f"median of {result['repeat']} reps"
    )
    rows = result["rows"]
    assert isinstance(rows, list)
    width = max(len(str(row["figure"])) for row in rows)
    header = f"{'figure':{width}} {'feedmill':>9} {'baseline':>9} {'ratio':>6} {'target':>7} met"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = row["baseline"]
        ratio = row["ratio"]
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        print(
            f"{row['figure']:{width}} {row['feedmill']:9.2f} "
            f"{(f'{base:9.2f}' if base is not None else '-'):>9} "
            f"{(f'{ratio:6.2f}' if ratio is not None else '-'):>6} {row['target']:>7} {met}"
        )
    print("baseline: feedgen alone, RSS+Atom, same 50 entries already in memory")
    uses = "yes" if result["query_uses_index"] else "NO"
    print(f"latest-50 query plan (uses articles_source_newest: {uses}):")
    for line in str(result["query_plan"]).splitlines():
        print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, help="articles in the store (default 1,000,000)")
    parser.add_argument("--sources", type=int, default=200, help="sources (default 200)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 60, --quick 12)")
    parser.add_argument("--quick", action="store_true", help="20,000 articles, few repetitions")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.articles is None:
        args.articles = 20_000 if args.quick else 1_000_000
    if args.repeat is None:
        args.repeat = 12 if args.quick else 60
    if args.articles < args.sources or args.sources < 1 or args.repeat < 1:
        parser.error("need --sources ≥ 1, --articles ≥ --sources and --repeat ≥ 1")
    result = run(args)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
