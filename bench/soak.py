"""Soak: ``feedmill serve`` with many sources on a schedule of seconds, for a long time.

    python bench/soak.py [--minutes M | --seconds S] [--sources N] [--every S] [--json OUT]

Generates a local test site (one listing and a few ~2 KB articles per source, default 50
sources) served by Python's http.server in a thread of this process, on 127.0.0.1; a
feeder thread adds a new article to a few sources every 20 s, so runs keep storing
articles and rewriting feeds. ``feedmill serve`` runs the N web sources on an
``every = "5s"`` schedule (with the service's batching defaults) for ``--minutes``
(default 10). Meanwhile a client requests ``/feeds/all.rss`` and one source's feed
(plain GET, no validators: the full cost) every 0.2 s.

It prints, and ``--json OUT`` writes:

- runs completed and failed (from the store's run table: ok / failed / timeout /
  interrupted / cancelled), and runs per minute;
- RSS of the serve process (VmRSS; the crawls run in child processes) at start (first
  sample after the service is ready), every ``--sample`` seconds, at the end, and the
  maximum; the growth over the second half of the run (the steady state);
- open file descriptors of the serve process (/proc/PID/fd) at the same points;
- store size (SQLite file plus its WAL) at the same points, and articles stored;
- p50 / p99 / max response time of the feed requests, and how many were not 200.

Exit status 1 if the service died, a feed request failed, or no run completed.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTICLES_PER_SOURCE = 3
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
FAILED = ("failed", "timeout", "interrupted", "cancelled")

SOURCE = """
[sources.{name}]
kind = "web"
start_urls = ["{base}/{name}/index.html"]
article_links = "ul a"
max_pages = 1
language = "en"
every = "{every}s"
timeout = "2m"
"""
PARAGRAPH = "<p>" + "The council met on Tuesday to discuss the new bus lanes. " * 6 + "</p>"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --------------------------------------------------------------------------- the site


def source_names(count: int) -> list[str]:
    return [f"s{i:03d}" for i in range(count)]


def write_article(folder: Path, name: str, number: int) -> None:
    day = 1 + (number % 28)
    (folder / f"a{number}.html").write_text(
        "<html><head><title>Story</title>"
        '<meta property="article:published_time" '
        f'content="2026-10-{day:02d}T08:{number % 60:02d}:00Z">'
        f"</head><body><article><h1>Story {number} of {name}</h1>"
        f"{PARAGRAPH * 4}</article></body></html>",
        encoding="utf-8",
    )


def write_listing(folder: Path, name: str, count: int) -> None:
    """The listing of the newest ARTICLES_PER_SOURCE + 2 articles, written atomically."""
    links = "".join(
        f'<li><a href="/{name}/a{j}.html">Story {j} of {name}</a></li>'
        for j in range(count - 1, max(-1, count - ARTICLES_PER_SOURCE - 3), -1)
    )
    temporary = folder / "index.html.tmp"
    temporary.write_text(
        f"<html><head><title>{name}</title></head><body><ul>{links}</ul></body></html>",
        encoding="utf-8",
    )
    temporary.replace(folder / "index.html")


def build_site(site: Path, names: list[str]) -> None:
    site.mkdir(parents=True)
    (site / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    for name in names:
        folder = site / name
        folder.mkdir()
        for number in range(ARTICLES_PER_SOURCE):
            write_article(folder, name, number)
        write_listing(folder, name, ARTICLES_PER_SOURCE)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site:
    """The site on 127.0.0.1:<free port>, served by a thread that is joined on stop."""

    def __init__(self, root: Path) -> None:
        handler = partial(_QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="soak-site")

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.thread.join(30)
        self.server.server_close()


def feeder(site: Path, names: list[str], stop: threading.Event, every: float) -> None:
    """Every ``every`` seconds, a new article in a few sources (round robin)."""
    counts = dict.fromkeys(names, ARTICLES_PER_SOURCE)
    turn = 0
    while not stop.wait(every):
        for name in names[turn : turn + 5] or names[:5]:
            folder = site / name
            write_article(folder, name, counts[name])
            counts[name] += 1
            write_listing(folder, name, counts[name])
        turn = (turn + 5) % len(names)


# --------------------------------------------------------------------------- measuring


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE / 1e6


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def store_mb(data_dir: Path) -> float:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"feedmill.sqlite3{suffix}"
        if path.exists():
            total += path.stat().st_size
    return total / 1e6


def store_counts(data_dir: Path) -> dict[str, int]:
    """Runs by outcome, and articles, from the store (read-only)."""
    db = data_dir / "feedmill.sqlite3"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
            counts = dict(connection.execute("SELECT outcome, count(*) FROM runs GROUP BY 1"))
            counts["articles"] = connection.execute("SELECT count(*) FROM articles").fetchone()[0]
            return counts
    except sqlite3.Error:
        return {}


class FeedClient:
    """Requests feeds repeatedly from a thread; response times in milliseconds."""

    def __init__(self, base: str, paths: list[str], interval: float) -> None:
        self.base, self.paths, self.interval = base, paths, interval
        self.times_ms: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-client")

    def _run(self) -> None:
        turn = 0
        while not self.stop.wait(self.interval):
            path = self.paths[turn % len(self.paths)]
            turn += 1
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(self.base + path, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                self.errors.append(f"{path}: {exc}")
                continue
            self.times_ms.append((time.perf_counter() - started) * 1000)
            if status != 200:
                self.errors.append(f"{path}: HTTP {status}")

    def __enter__(self) -> FeedClient:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --------------------------------------------------------------------------- the run


def wait_ready(base: str, process: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"feedmill serve exited:\n{logfile.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"feedmill serve not ready:\n{logfile.read_text()[-3000:]}")


def stop_process(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=30)


def soak(work: Path, sources: int, every: int, seconds: float, sample: float) -> dict[str, Any]:
    names = source_names(sources)
    site_root = work / "site"
    build_site(site_root, names)
    project = work / "project"
    project.mkdir()
    data_dir = project / "data"
    port = free_port()
    stop_feeder = threading.Event()
    with Site(site_root) as site:
        config = project / "feedmill.toml"
        config.write_text(
            '[service]\nbase_url = "http://127.0.0.1:8080"\ntitle = "soak"\ndata_dir = "data"\n'
            + "".join(SOURCE.format(name=n, base=site.base, every=every) for n in names),
            encoding="utf-8",
        )
        feeding = threading.Thread(
            target=feeder, args=(site_root, names, stop_feeder, 20.0), name="soak-feeder"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
        script = shutil.which("feedmill", path=str(Path(sys.executable).parent))
        command = [script] if script else [sys.executable, "-m", "feeds"]
        logfile = project / "serve.log"
        with logfile.open("wb") as out:
            process = subprocess.Popen(
                [*command, "serve", "--port", str(port), "-q"],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        samples: list[dict[str, Any]] = []
        base = f"http://127.0.0.1:{port}"
        began = time.monotonic()
        try:
            wait_ready(base, process, logfile)
            feeding.start()

            def take(label: str) -> None:
                counts = store_counts(data_dir)
                samples.append(
                    {
                        "label": label,
                        "t_s": round(time.monotonic() - began, 1),
                        "rss_mb": round(rss_mb(process.pid), 1),
                        "fds": open_fds(process.pid),
                        "store_mb": round(store_mb(data_dir), 2),
                        "runs": sum(
                            v for k, v in counts.items() if k not in ("articles", "running")
                        ),
                        "articles": counts.get("articles", 0),
                    }
                )
                last = samples[-1]
                log(
                    f"{last['t_s']:7.1f}s {label:>5}: rss {last['rss_mb']} MB, "
                    f"{last['fds']} fds, store {last['store_mb']} MB, {last['runs']} runs, "
                    f"{last['articles']} articles"
                )

            take("start")
            with FeedClient(base, ["/feeds/all.rss", f"/feeds/{names[0]}.atom"], 0.2) as client:
                end = time.monotonic() + seconds
                next_sample = time.monotonic() + sample
                while time.monotonic() < end:
                    if process.poll() is not None:
                        raise RuntimeError(f"feedmill serve died:\n{logfile.read_text()[-3000:]}")
                    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                    if time.monotonic() >= next_sample and time.monotonic() < end - 1:
                        take("")
                        next_sample += sample
                take("end")
            alive = process.poll() is None
        finally:
            stop_feeder.set()
            if feeding.is_alive():
                feeding.join(30)
            status = stop_process(process)
    counts = store_counts(data_dir)
    completed = sum(v for k, v in counts.items() if k not in ("articles", "running"))
    failed = sum(counts.get(k, 0) for k in FAILED)
    half = [s for s in samples if s["t_s"] >= samples[-1]["t_s"] / 2]
    elapsed = samples[-1]["t_s"] - samples[0]["t_s"]
    times = client.times_ms
    return {
        "sources": sources,
        "every_s": every,
        "seconds": round(elapsed, 1),
        "runs_completed": completed,  # after the stop (running crawls finish in the grace)
        "runs_completed_before_stop": samples[-1]["runs"],
        "runs_failed": failed,
        "runs_by_outcome": {k: v for k, v in counts.items() if k != "articles"},
        "runs_per_minute": round(completed / elapsed * 60, 1) if elapsed else None,
        "articles": counts.get("articles", 0),
        "rss_mb_start": samples[0]["rss_mb"],
        "rss_mb_end": samples[-1]["rss_mb"],
        "rss_mb_max": max(s["rss_mb"] for s in samples),
        "rss_mb_growth_second_half": round(half[-1]["rss_mb"] - half[0]["rss_mb"], 1),
        "fds_start": samples[0]["fds"],
        "fds_end": samples[-1]["fds"],
        "fds_max": max(s["fds"] for s in samples),
        "store_mb_start": samples[0]["store_mb"],
        "store_mb_end": samples[-1]["store_mb"],
        "feed_requests": len(times),
        "feed_errors": len(client.errors),
        "feed_error_examples": client.errors[:5],
        "feed_p50_ms": round(statistics.median(times), 1) if times else None,
        "feed_p99_ms": round(percentile(times, 0.99) or 0, 1) if times else None,
        "feed_max_ms": round(max(times), 1) if times else None,
        "service_alive_at_end": alive,
        "service_exit_status": status,
        "samples": samples,
    }


def print_report(result: dict[str, Any]) -> None:
    rows = [
        ("sources, schedule", f"{result['sources']}, every {result['every_s']} s"),
        ("duration", f"{result['seconds']:.0f} s"),
        ("runs completed", f"{result['runs_completed']} ({result['runs_per_minute']}/min)"),
        ("runs failed", f"{result['runs_failed']}  {result['runs_by_outcome']}"),
        ("articles stored", result["articles"]),
        (
            "serve RSS MB",
            f"start {result['rss_mb_start']}, end {result['rss_mb_end']}, "
            f"max {result['rss_mb_max']}, second-half growth {result['rss_mb_growth_second_half']}",
        ),
        (
            "serve open fds",
            f"start {result['fds_start']}, end {result['fds_end']}, max {result['fds_max']}",
        ),
        ("store MB", f"start {result['store_mb_start']}, end {result['store_mb_end']}"),
        (
            "feed response ms",
            f"p50 {result['feed_p50_ms']}, p99 {result['feed_p99_ms']}, "
            f"max {result['feed_max_ms']} ({result['feed_requests']} requests, "
            f"{result['feed_errors']} errors)",
        ),
        (
            "service",
            f"alive at end, exit status {result['service_exit_status']} after SIGTERM"
            if result["service_alive_at_end"]
            else "DIED",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    print(f"{'t (s)':>7}  {'RSS MB':>7}  {'fds':>4}  {'store MB':>8}  {'runs':>6}  {'articles':>8}")
    for s in result["samples"]:
        print(
            f"{s['t_s']:7.0f}  {s['rss_mb']:7.1f}  {s['fds']:4d}  {s['store_mb']:8.2f}  "
            f"{s['runs']:6d}  {s['articles']:8d}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long (10)")
    parser.add_argument("--seconds", type=float, help="how long, in seconds (overrides --minutes)")
    parser.add_argument("--sources", type=int, default=50, help="web sources (50)")
    parser.add_argument("--every", type=int, default=5, help="schedule, seconds (5)")
    parser.add_argument("--sample", type=float, help="seconds between samples (duration / 10)")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    sample = args.sample or max(2.0, seconds / 10)
    work = Path(tempfile.mkdtemp(prefix="feedmill-soak-"))
    try:
        result = soak(work, args.sources, args.every, seconds, sample)
    finally:
        if args.keep:
            log(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    ok = (
        result["service_alive_at_end"]
        and result["feed_errors"] == 0
        and result["runs_completed"] > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
