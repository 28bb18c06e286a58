"""The benchmark suite: every performance benchmark, one table, one JSON file.

    python bench/run.py [--quick] [--json OUT] [--only NAME ...]

Runs each benchmark script below as a child process, in turn (they would disturb each
other's timings side by side), each with its baseline measured in the same run and its
own repetitions, builds its own data (a generated news site and many small sources
served by nginx, a generated seed-format corpus, a generated 1,000,000-article store),
then prints one table — figure, feedmill, baseline, ratio, target, met — and writes
everything to ``bench-results.json`` (or ``--json OUT``).

``--quick`` is a smoke run (small data, one repetition, under about two minutes): the
test suite runs it to keep the scripts working; its figures are not the ones to quote.
``nodes`` (Scrapyd nodes, ~30 s more of real daemons) is left out of ``--quick`` unless
named: ``python bench/run.py --quick --only nodes``.
A benchmark that fails or cannot run (nginx missing) is reported as such and the suite
goes on; the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, fmt, print_table, write_json

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    what: str
    # False: left out of ``--quick`` (unless named with ``--only``), for a benchmark whose
    # smoke run would add much to the suite's --quick time, which the test suite pays.
    in_quick: bool = True


BENCHMARKS = (
    Benchmark(
        "files",
        "files_throughput.py",
        (),
        ("--quick", "--docs", "300"),
        "seeds spider vs one request per file, plain-loop floor, refresh cost",
    ),
    Benchmark(
        "web",
        "web_crawl.py",
        (),
        ("--quick", "--pages", "40"),
        "web sources vs bare Scrapy (+trafilatura) on nginx, refresh, crawl peak RSS",
    ),
    Benchmark(
        "feeds",
        "feeds_render.py",
        (),
        ("--quick", "--articles", "5000", "--repeat", "3"),
        "latest-50 RSS+Atom+JSON from a 1,000,000-article store vs feedgen alone",
    ),
    Benchmark(
        "serving",
        "serving.py",
        (),
        ("--quick", "--duration", "1"),
        "feedmill serve vs nginx (and deploy/nginx.conf), 200 and 304, p99",
    ),
    Benchmark(
        "many",
        "many_sources.py",
        (),
        ("--quick", "--sources", "4", "--every", "8"),
        "1,000 small sources on a schedule: CPU per refresh, serve memory",
    ),
    Benchmark(
        "nodes",
        "scrapyd_nodes.py",
        (),
        ("--quick",),
        "runs/min with 2 Scrapyd nodes vs 1 (PostgreSQL store), CPU per run",
        in_quick=False,
    ),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_one(bench: Benchmark, quick: bool, out: Path, timeout: float) -> dict[str, object]:
    """Run one script; its JSON, or a description of why there is none."""
    command = [sys.executable, str(BENCH / bench.script), *(bench.quick if quick else bench.full)]
    command += ["--json", str(out)]
    log(f"== {bench.name}: {' '.join(command[1:])}")
    began = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"no result after {timeout:.0f}s"}
    seconds = time.monotonic() - began
    if done.stdout:
        log(done.stdout.rstrip())
    if done.returncode == 2 and not out.exists():
        return {"status": "skipped", "error": done.stderr.strip()[-500:], "seconds": seconds}
    if done.returncode != 0 or not out.exists():
        tail = done.stderr.strip()[-2000:]
        return {"status": "failed", "error": f"exit {done.returncode}: {tail}", "seconds": seconds}
    data = json.loads(out.read_text(encoding="utf-8"))
    return {"status": "ok", "seconds": seconds, "results": data}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, small data")
    parser.add_argument(
        "--json", type=Path, default=Path("bench-results.json"), help="results file"
    )
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=str(names))
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per benchmark (default 3600)"
    )
    args = parser.parse_args(argv)
    if args.only:
        chosen = [b for b in BENCHMARKS if b.name in args.only]
    else:
        chosen = [b for b in BENCHMARKS if b.in_quick or not args.quick]
    report: dict[str, object] = {
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "benchmarks": {},
    }
    rows: list[dict[str, object]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="feedmill-bench-") as tmp:
        for bench in chosen:
            outcome = run_one(bench, args.quick, Path(tmp) / f"{bench.name}.json", args.timeout)
            report["benchmarks"][bench.name] = outcome  # type: ignore[index]
            if outcome["status"] != "ok":
                failed = failed or outcome["status"] == "failed"
                rows.append(
                    {
                        "benchmark": bench.name,
                        "figure": f"{bench.what} ({outcome['status']})",
                        "feedmill": None,
                        "baseline": None,
                        "ratio": None,
                        "target": "-",
                        "met": None,
                        "error": outcome.get("error", ""),
                    }
                )
                continue
            results = outcome["results"]
            for row in results.get("rows", []):  # type: ignore[union-attr]
                rows.append({"benchmark": bench.name, **row})
    report["rows"] = rows
    print()
    print(f"feedmill benchmarks{' (--quick: smoke run, not figures)' if args.quick else ''}")
    print_table(
        ["bench", "figure", "feedmill", "baseline", "ratio", "target", "met?"],
        [
            [
                row["benchmark"],
                row["figure"],
                row.get("feedmill"),
                row.get("baseline"),
                _ratio(row.get("ratio")),
                row.get("target"),
                row.get("met"),
            ]
            for row in rows
        ],
    )
    for row in rows:
        if row.get("error"):
            print(f"{row['benchmark']}: {str(row['error']).splitlines()[-1][:300]}")
    write_json(args.json, report)
    print(f"results: {args.json}")
    return 1 if failed else 0


def _ratio(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}x"
    return fmt(value)


if __name__ == "__main__":
    sys.exit(main())
