"""Scrapyd nodes: runs per minute with 2 nodes against 1, on the same local site.

    python bench/scrapyd_nodes.py [--sources N] [--max-proc P] [--repeat R] [--quick] [--json OUT]

Builds the many-sources site (``many_sources.build_site``: N small sources, default 60,
``--quick`` 8, each a listing of 3 articles) served by nginx. Then, for 1 and for 2
real Scrapyd nodes (``tests/scrapyd_support.py``: ``python -m scrapyd`` daemons on
127.0.0.1, ``max_proc`` P each, default 2), on a fresh PostgreSQL schema each time:
a ``ScrapydRunManager`` (the ``scrapyd`` runner of ``feedmill serve``) starts every
source once, as the scheduler does, and waits for them all. Wall time from the first
start to the last run's end gives runs per minute; every run must end "ok" and every
article be stored exactly once (the store's counts), or the benchmark fails rather
than report a speed for wrong work. CPU per run is the nodes' CPU (the daemons and the
crawl processes they reaped, from /proc) plus this process's (the manager), over the
measured span.

The two node counts alternate (1, 2, then 2, 1, ...) over ``--repeat`` rounds (default
3, ``--quick`` 1) and medians are reported, so slow drift of a shared machine does not
favour either. The figure is the ratio 2-node / 1-node runs per minute; target ≥ 1.0x
(more nodes never slower). On one machine the second node adds slots, not cores: the
ratio measures the dispatch and parallelism overhead and how far it scales on this box,
not the speed-up of a second worker machine.

Exit status 2 when nginx or PostgreSQL is missing. Everything listens on 127.0.0.1
only; nodes, nginx and the schemas are gone at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for entry in (ROOT / "tests", ROOT, BENCH):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import psycopg  # noqa: E402
from common import fmt, print_table, ratio, write_json  # noqa: E402
from many_sources import ARTICLES_PER_SOURCE, build_site, proc_cpu, source_names  # noqa: E402
from pg_support import reachable_url  # noqa: E402
from psycopg import sql  # noqa: E402
from scrapyd_support import ScrapydNode, start_nodes  # noqa: E402
from serving import run_nginx  # noqa: E402
from web_crawl import NGINX_CONF, find_nginx  # noqa: E402

from feeds.config import load_config  # noqa: E402
from feeds.stores import open_store  # noqa: E402
from scheduler.remote import ScrapydRunManager  # noqa: E402

NODE_COUNTS = (1, 2)
TARGET = 1.0
POLL = 0.2  # seconds between listjobs.json rounds: small, so polling does not pad the span

SOURCE = """
[sources.{name}]
kind = "web"
start_urls = ["{base}/{name}/index.html"]
article_links = "ul a"
max_pages = 1
language = "en"
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_config(
    path: Path, base: str, database: str, nodes: list[ScrapydNode], slots: int, names: list[str]
) -> None:
    """The feedmill.toml of one measurement: the scrapyd runner on these nodes, with
    ``scrapyd_slots`` = each node's max_proc so the manager spreads runs by free slots."""
    urls = ", ".join(f'"http://{n.username}:{n.password}@127.0.0.1:{n.port}"' for n in nodes)
    text = (
        "[service]\n"
        f'data_dir = "data"\ndatabase_url = "{database}"\n'
        f'runner = "scrapyd"\nscrapyd_nodes = [{urls}]\nscrapyd_slots = {slots}\n'
    )
    text += "".join(SOURCE.format(name=name, base=base) for name in names)
    path.write_text(text, encoding="utf-8")


def schema_url(server: str, schema: str) -> str:
    """A database URL whose search_path is ``schema`` (the store creates it)."""
    separator = "&" if "?" in server else "?"
    return f"{server}{separator}options={quote(f'-csearch_path={schema}')}"


def drop_schema(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def run_all(config_path: Path, project: Path, database: str, names: list[str]) -> list[str]:
    """Start every source once through the Scrapyd runner and wait for every run; the
    outcomes, in source order."""
    manager = ScrapydRunManager(
        load_config(config_path), project / "data", database=database, poll=POLL, lost_after=30
    )
    try:
        run_ids = [await manager.start(name, "api") for name in names]
        return list(await asyncio.gather(*(manager.wait(run_id) for run_id in run_ids)))
    finally:
        await manager.shutdown()


def measure(
    workdir: Path, base: str, server: str, names: list[str], node_count: int, max_proc: int
) -> dict[str, object]:
    """One measurement: ``node_count`` fresh nodes, a fresh schema, every source once."""
    schema = f"feedmill_bench_{secrets.token_hex(4)}"
    database = schema_url(server, schema)
    folder = Path(tempfile.mkdtemp(prefix=f"n{node_count}-", dir=workdir))
    project = folder / "project"
    project.mkdir()
    config_path = project / "feedmill.toml"
    env = {"FEEDMILL_CONFIG": str(config_path)}
    try:
        with start_nodes(node_count, folder, max_proc=max_proc, env=env) as nodes:
            write_config(config_path, base, database, nodes, max_proc, names)
            open_store(database).close()  # the schema and tables exist before the clock starts
            pids = [node.process.pid for node in nodes if node.process is not None]
            cpu0 = sum(proc_cpu(pid) for pid in pids) + time.process_time()
            wall0 = time.perf_counter()
            outcomes = asyncio.run(run_all(config_path, project, database, names))
            wall = time.perf_counter() - wall0
            cpu = sum(proc_cpu(pid) for pid in pids) + time.process_time() - cpu0
        with open_store(database) as store:
            counts = store.counts()
            runs = store.runs(None, len(names) * 2)
    finally:
        drop_schema(server, schema)
    bad = [(name, o) for name, o in zip(names, outcomes, strict=True) if o != "ok"]
    if bad:
        errors = {r.source: f"{r.error}\n{r.log_tail[-1500:]}" for r in runs if r.outcome != "ok"}
        raise RuntimeError(f"{node_count} node(s): runs not ok: {bad[:5]}; errors {errors}")
    expected = dict.fromkeys(names, ARTICLES_PER_SOURCE)
    if counts != expected:
        wrong = {k: counts.get(k) for k in names if counts.get(k) != ARTICLES_PER_SOURCE}
        raise RuntimeError(f"{node_count} node(s): articles not stored exactly once: {wrong}")
    per_node: dict[str, int] = {}
    for run in runs:
        per_node[run.node] = per_node.get(run.node, 0) + 1
    result = {
        "nodes": node_count,
        "runs": len(names),
        "wall_s": wall,
        "runs_per_min": len(names) / wall * 60,
        "cpu_s": cpu,
        "cpu_per_run_s": cpu / len(names),
        "runs_per_node": sorted(per_node.values()),
    }
    log(
        f"{node_count} node(s): {len(names)} runs in {wall:.1f}s "
        f"({result['runs_per_min']:.1f}/min, {cpu / len(names):.2f} CPU-s/run, "
        f"per node {result['runs_per_node']})"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, help="sources, one run each (60, --quick 8)")
    parser.add_argument("--max-proc", type=int, default=2, help="slots per node (default 2)")
    parser.add_argument("--repeat", type=int, help="rounds of 1 and 2 nodes (3, --quick 1)")
    parser.add_argument("--quick", action="store_true", help="8 sources, one round")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    count = args.sources or (8 if args.quick else 60)
    rounds = max(1, args.repeat or (1 if args.quick else 3))
    nginx = find_nginx()
    if nginx is None:
        log("nginx is missing (apt-get install -y nginx)")
        return 2
    server, why = reachable_url()
    if server is None:
        log(f"PostgreSQL is not reachable: {why}")
        return 2
    names = source_names(count)
    samples: dict[int, list[dict[str, object]]] = {n: [] for n in NODE_COUNTS}
    with tempfile.TemporaryDirectory(prefix="feedmill-nodes-") as tmp:
        workdir = Path(tmp)
        build_site(workdir / "site", names)
        with run_nginx(workdir, NGINX_CONF, "/robots.txt", nginx, site=workdir / "site") as (
            base,
            _prefix,
        ):
            log(f"{count} sources on {base}; max_proc {args.max_proc}; {rounds} round(s)")
            for round_ in range(rounds):
                order = NODE_COUNTS if round_ % 2 == 0 else NODE_COUNTS[::-1]
                for n in order:
                    samples[n].append(measure(workdir, base, server, names, n, args.max_proc))
    rate = {n: statistics.median(float(s["runs_per_min"]) for s in samples[n]) for n in samples}
    cpu = {n: statistics.median(float(s["cpu_per_run_s"]) for s in samples[n]) for n in samples}
    scale = ratio(rate[2], rate[1])
    note = (
        f"one {os.cpu_count()}-CPU machine: the 2nd node adds slots, not cores; the ratio is "
        "dispatch/parallelism overhead and scaling on this box, not a multi-machine speed-up"
    )
    rows = [
        {
            "figure": (
                f"Scrapyd runs/min, {count} sources, 2 nodes vs 1 (max_proc {args.max_proc} each; "
                f"CPU/run {cpu[2]:.2f} vs {cpu[1]:.2f} s)"
            ),
            "feedmill": round(rate[2], 1),
            "baseline": round(rate[1], 1),
            "ratio": scale,
            "target": "≥ 1.0x (more nodes never slower)",
            "met": scale >= TARGET,
        }
    ]
    results: dict[str, object] = {
        "sources": count,
        "max_proc": args.max_proc,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "runs_per_min": {str(n): rate[n] for n in rate},
        "cpu_per_run_s": {str(n): cpu[n] for n in cpu},
        "samples": {str(n): samples[n] for n in samples},
        "note": note,
        "rows": rows,
    }
    print(f"{count} sources x {rounds} round(s); {note}")
    print_table(
        ["figure", "feedmill", "baseline", "ratio", "target", "met?"],
        [
            [r["figure"], r["feedmill"], r["baseline"], f"{r['ratio']:.2f}x", r["target"], r["met"]]
            for r in rows
        ],
    )
    for n in NODE_COUNTS:
        walls = ", ".join(fmt(float(s["wall_s"])) for s in samples[n])
        print(f"{n} node(s): wall s per round {walls}; CPU per run {cpu[n]:.2f} s (median)")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
