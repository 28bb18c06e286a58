"""Many small sources on a schedule: what feedmill serve spends per refresh, and its memory.

    python bench/many_sources.py [--sources N] [--every S] [--cycles C] [--quick] [--json OUT]

Generates a site of N small sources (default 1,000; ``--quick``: 10) served by nginx: each
``/sNNNN/index.html`` lists 3 articles of ~2 KB. ``feedmill serve`` runs with N web
sources on an ``every = S`` schedule (default 240 s; ``--quick``: 12 s), all due at start
(their persisted next run is in the past), with the service defaults for batching
(``batch_window`` 2 s, ``batch_size`` 50, ``workers`` 8). The first cycle downloads
everything; the next C cycles (default 2, ``--quick`` 1) are refreshes of unchanged sources (listing
pages answered 304, no article fetched) — the steady state of a service.

Figures, all from the serve process's own /proc accounting (its CPU plus that of the
crawler processes it reaped):

- CPU per refresh in the steady cycles, refreshes per CPU-second, and the CPU it would
  take to keep 1,000 such sources on a 15-minute schedule, as % of one core (target
  < 25%); the baseline is a refresh as one new ``python -m crawler.run SOURCE`` process
  per source (what an unbatched scheduler pays);
- each cycle's duration (all N runs, from the first start to the last end) against the
  interval: the schedule is kept only if a cycle ends before the next begins;
- memory: the serve process's RSS after 100 runs, after 1,000 runs (target within 10%
  of the former) and at the end.

Exit status 2 when nginx is missing. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, clean_env, fmt, print_table, ratio, time_child, write_json
from serving import feedmill_command, free_port, run_nginx, stop
from web_crawl import NGINX_CONF, find_nginx

from scheduler.state import ScheduleState

ARTICLES_PER_SOURCE = 3
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

SOURCE = """
[sources.{name}]
kind = "web"
start_urls = ["{base}/{name}/index.html"]
article_links = "ul a"
max_pages = 1
language = "en"
every = "{every}s"
timeout = "5m"
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def source_names(count: int) -> list[str]:
    return [f"s{i:04d}" for i in range(count)]


def build_site(site: Path, names: list[str]) -> None:
    """Per source a listing and ARTICLES_PER_SOURCE articles; a robots.txt allowing all."""
    site.mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    paragraph = "<p>" + "The council met on Tuesday to discuss the new bus lanes. " * 6 + "</p>"
    for name in names:
        folder = site / name
        folder.mkdir()
        links = "".join(
            f'<li><a href="/{name}/a{j}.html">Story {j} of {name}</a></li>'
            for j in range(ARTICLES_PER_SOURCE)
        )
        (folder / "index.html").write_text(
            f"<html><head><title>{name}</title></head><body><ul>{links}</ul></body></html>",
            encoding="utf-8",
        )
        for j in range(ARTICLES_PER_SOURCE):
            day = 1 + (j % 28)
            (folder / f"a{j}.html").write_text(
                "<html><head><title>Story</title>"
                f'<meta property="article:published_time" content="2026-10-{day:02d}T08:00:00Z">'
                f"</head><body><article><h1>Story {j} of {name}</h1>"
                f"{paragraph * 4}</article></body></html>",
                encoding="utf-8",
            )


def write_project(project: Path, base: str, names: list[str], every: int) -> Path:
    project.mkdir(parents=True)
    text = '[service]\nbase_url = "http://127.0.0.1:8080"\ntitle = "bench"\ndata_dir = "data"\n'
    text += "".join(SOURCE.format(name=name, base=base, every=every) for name in names)
    path = project / "feedmill.toml"
    path.write_text(text, encoding="utf-8")
    # Every source due now, as after a restart: the first cycle starts at once.
    past = datetime.now(UTC) - timedelta(seconds=1)
    ScheduleState(project / "data").save_many(dict.fromkeys(names, past))
    return path


def proc_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and of the children it has reaped (utime+stime+cutime+cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


def proc_rss_mb(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / 1e6


def finished_runs(store: Path) -> tuple[int, int, int]:
    """(finished runs, of which ok, runs still open)."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            done, ok, open_ = db.execute(
                "SELECT count(*) FILTER (WHERE outcome != 'running'),"
                " count(*) FILTER (WHERE outcome = 'ok'),"
                " count(*) FILTER (WHERE outcome = 'running') FROM runs"
            ).fetchone()
            return done, ok, open_
    except sqlite3.Error:
        return 0, 0, 0


def article_fetches(access_log: Path) -> int:
    """Article pages nginx answered with 200 so far."""
    try:
        lines = access_log.read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    return sum(1 for line in lines if line.startswith("200 ") and "/a" in line.split(" ", 1)[1])


def listing_answers(access_log: Path, start: int) -> tuple[int, int]:
    """(listing requests, answered 304) from line ``start`` of the access log on."""
    lines = access_log.read_text(encoding="utf-8").splitlines()[start:]
    listings = [line for line in lines if line.endswith("/index.html")]
    return len(listings), sum(1 for line in listings if line.startswith("304 "))


def run_service(
    project: Path, config: Path, names: list[str], every: int, cycles: int, access_log: Path
) -> dict[str, object]:
    """Run feedmill serve through 1 + ``cycles`` cycles of N runs; the measurements."""
    n = len(names)
    data_dir = project / "data"
    store = data_dir / "feedmill.sqlite3"
    port = free_port()
    logfile = project / "serve.log"
    env = clean_env(FEEDMILL_CONFIG=str(config), FEEDMILL_DATA_DIR=str(data_dir))
    with open(logfile, "wb") as out:
        serve = subprocess.Popen(
            [*feedmill_command(), "serve", "--port", str(port), "-q"],
            cwd=project,
            env=env,
            stdout=out,
            stderr=out,
        )
    marks: dict[str, float] = {}
    rss: dict[str, float] = {}
    cycle_spans: list[tuple[float, float]] = []
    cpu_at_cycle_end: list[float] = []
    fetches_at_cycle_end: list[int] = []
    log_lines_at_cycle_end: list[int] = []
    began = time.monotonic()
    deadline = began + every * (cycles + 1) + max(120.0, every * 2)
    try:
        cycle_started: float | None = None
        while len(cycle_spans) < cycles + 1:
            if serve.poll() is not None:
                raise RuntimeError(f"feedmill serve exited:\n{logfile.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"only {finished_runs(store)[0]} of {n * (cycles + 1)} runs ended in time"
                )
            done, _ok, open_ = finished_runs(store)
            now = time.monotonic()
            for mark in (100, 1000):
                if done >= mark and str(mark) not in rss:
                    rss[str(mark)] = proc_rss_mb(serve.pid)
            ended_before = n * len(cycle_spans)
            if cycle_started is None and (open_ > 0 or done > ended_before):
                cycle_started = now
            if done >= ended_before + n and open_ == 0:
                cycle_spans.append((cycle_started or now, now))
                cpu_at_cycle_end.append(proc_cpu(serve.pid))
                fetches_at_cycle_end.append(article_fetches(access_log))
                log_lines_at_cycle_end.append(len(access_log.read_text().splitlines()))
                log(f"cycle {len(cycle_spans)}: {done} runs ended, {now - began:.0f}s in")
                cycle_started = None
            time.sleep(0.25)
        marks["end_rss"] = proc_rss_mb(serve.pid)
        end = time.monotonic()
    finally:
        stop(serve, signal.SIGTERM)
    done, ok, _ = finished_runs(store)
    steady_runs = n * cycles
    steady_cpu = cpu_at_cycle_end[-1] - cpu_at_cycle_end[0]
    steady_wall = cycle_spans[-1][1] - cycle_spans[0][1]
    listings, answered_304 = listing_answers(access_log, log_lines_at_cycle_end[0])
    return {
        "runs": done,
        "runs_ok": ok,
        "first_cycle_cpu_s": cpu_at_cycle_end[0],
        "steady_runs": steady_runs,
        "steady_cpu_s": steady_cpu,
        "steady_wall_s": steady_wall,
        "cpu_per_refresh_s": steady_cpu / steady_runs,
        "refreshes_per_cpu_s": ratio(steady_runs, steady_cpu),
        "cycle_durations_s": [round(b - a, 1) for a, b in cycle_spans],
        "article_pages_fetched_in_refreshes": fetches_at_cycle_end[-1] - fetches_at_cycle_end[0],
        "listings_in_refreshes": listings,
        "listings_304": answered_304,
        "rss_mb_100_runs": rss.get("100"),
        "rss_mb_1000_runs": rss.get("1000"),
        "rss_mb_end": marks["end_rss"],
        "wall_s": end - began,
    }


def baseline_refresh(project: Path, config: Path, names: list[str], repeat: int) -> list[float]:
    """CPU of refreshing one source as a new crawler process (the unbatched cost)."""
    env = clean_env(FEEDMILL_CONFIG=str(config), FEEDMILL_DATA_DIR=str(project / "data"))
    cpus = []
    for name in names[:repeat]:
        _, timing = time_child(
            [sys.executable, "-m", "crawler.run", "-s", "LOG_LEVEL=WARNING", name],
            env=env,
            cwd=ROOT,
        )
        cpus.append(timing.cpu)
    return cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, help="sources (default 1000, --quick 10)")
    parser.add_argument("--every", type=int, help="schedule in seconds (240, --quick 12)")
    parser.add_argument("--cycles", type=int, help="refresh cycles measured (2, --quick 1)")
    parser.add_argument("--repeat", type=int, default=3, help="baseline refreshes (3)")
    parser.add_argument("--quick", action="store_true", help="10 sources every 12 s")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    count = args.sources or (10 if args.quick else 1000)
    every = args.every or (12 if args.quick else 240)
    cycles = args.cycles or (1 if args.quick else 2)
    nginx = find_nginx()
    if nginx is None:
        log("nginx is missing (apt-get install -y nginx)")
        return 2
    names = source_names(count)
    with tempfile.TemporaryDirectory(prefix="feedmill-many-") as tmp:
        workdir = Path(tmp)
        build_site(workdir / "site", names)
        with run_nginx(workdir, NGINX_CONF, "/robots.txt", nginx, site=workdir / "site") as (
            base,
            prefix,
        ):
            project = workdir / "project"
            config = write_project(project, base, names, every)
            log(f"{count} sources every {every}s on {base}; 1 + {cycles} cycles")
            service = run_service(project, config, names, every, cycles, prefix / "access.log")
            base_cpus = baseline_refresh(project, config, names, args.repeat)
    per_refresh = float(service["cpu_per_refresh_s"])  # type: ignore[arg-type]
    baseline = statistics.median(base_cpus)
    projected = 1000 * per_refresh / 900 * 100
    baseline_projected = 1000 * baseline / 900 * 100
    rss100, rss1000 = service["rss_mb_100_runs"], service["rss_mb_1000_runs"]
    growth = ratio(rss1000, rss100) if rss100 and rss1000 else None  # type: ignore[arg-type]
    longest = max(service["cycle_durations_s"])  # type: ignore[type-var]
    results: dict[str, object] = {
        "sources": count,
        "every_s": every,
        "cycles": cycles,
        "service": service,
        "baseline": {"cpu_per_refresh_s": baseline, "samples": base_cpus},
        "projected_pct_of_core_1000_per_15min": projected,
    }
    rows = [
        {
            "figure": f"refresh CPU, {count} sources (batched serve vs 1 process per refresh)",
            "feedmill": f"{per_refresh * 1000:.1f} ms",
            "baseline": f"{baseline * 1000:.0f} ms",
            "ratio": ratio(per_refresh, baseline),
            "target": "report",
            "met": None,
        },
        {
            "figure": "1,000 sources every 15 min: % of one core (refreshes per CPU-s)",
            "feedmill": f"{projected:.1f}% ({fmt(service['refreshes_per_cpu_s'])}/s)",
            "baseline": f"{baseline_projected:.0f}%",
            "ratio": ratio(projected, baseline_projected),
            "target": "< 25%",
            "met": projected < 25,
        },
        {
            "figure": f"longest cycle of {count} runs vs the {every}s interval",
            "feedmill": f"{longest:.0f} s",
            "baseline": f"{every} s",
            "ratio": ratio(longest, every),  # type: ignore[arg-type]
            "target": "< 1x",
            "met": longest < every,  # type: ignore[operator]
        },
        {
            "figure": "refresh cycles: article pages fetched / listings answered 304",
            "feedmill": (
                f"{service['article_pages_fetched_in_refreshes']} / "
                f"{service['listings_304']} of {service['listings_in_refreshes']}"
            ),
            "baseline": "0 / all",
            "ratio": None,
            "target": "0 / all",
            "met": service["article_pages_fetched_in_refreshes"] == 0
            and service["listings_304"] == service["listings_in_refreshes"],
        },
        {
            "figure": "serve RSS after 1,000 runs vs after 100 runs (MB)",
            "feedmill": fmt(rss1000),
            "baseline": fmt(rss100),
            "ratio": growth,
            "target": "≤ 1.10x",
            "met": growth is not None and growth <= 1.10,
        },
    ]
    results["rows"] = rows
    print(
        f"{count} sources, every {every}s, {service['runs']} runs ({service['runs_ok']} ok), "
        f"cycles {service['cycle_durations_s']} s, serve RSS end {service['rss_mb_end']:.0f} MB"
    )
    print_table(
        ["figure", "feedmill", "baseline", "ratio", "target", "met?"],
        [
            [r["figure"], r["feedmill"], r["baseline"], r["ratio"], r["target"], r["met"]]
            for r in rows
        ],
    )
    write_json(args.json, results)
    return 0


def _times(value: object) -> str:
    return f"{value:.3f}x" if isinstance(value, float) else fmt(value)


if __name__ == "__main__":
    sys.exit(main())
