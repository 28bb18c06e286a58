"""kill -9 of ``feedmill serve`` while a crawl writes, at random points (issue 6).

One project with a ``files`` source of a thousand-odd small generated documents in the
seed format, scheduled ``every = "1s"``. Each trial changes some documents (rewrites a
few hundred, adds some), starts ``feedmill serve``, waits for the scheduled run to be
recorded, then SIGKILLs the service at a random delay (the crawl is starting, reading,
storing, writing feeds, or already done). The crawler child runs in a session of its
own, so the kill does not reach it: it must die with the service by itself (and its
reader processes with it); any survivor fails the test and is killed.

After every kill, with the store opened directly: ``PRAGMA integrity_check`` is ok,
every article id that was in the store just before the kill is still there, no
(source, key) has two rows, every feed file present parses whole (lxml, json) with
unique entry ids. After the restart, the runs the kill cut off are recorded as
``interrupted`` and the next scheduled run happens. At the end a full run completes:
every document is in the store exactly once, with its last edit.

Set FEEDMILL_CRASH_SEED to replay a sequence of kill points; FEEDMILL_CRASH_TRIALS to
run more (or fewer) trials.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from faultkit import (
    article_ids,
    check_feed_files,
    document,
    duplicates,
    integrity,
    kill_all,
    processes_of,
    project_config,
    runs,
    wait_gone,
    wait_until,
    write_documents,
)

from feeds.article import article_id

from serve_helper import Service, free_port
from support import run_feedmill

TRIALS = int(os.environ.get("FEEDMILL_CRASH_TRIALS", "20"))
DOCUMENTS = 600
EDITED_PER_TRIAL = 150
ADDED_PER_TRIAL = 20
MAX_KILL_DELAY = 3.5  # seconds after the run was recorded, at most
MIN_KILL_WINDOW = 0.3
TEST_BUDGET = 240.0  # the whole test, start-ups and checks included


def phase_at_kill(db: Path, run_ids: list[int], children: list[int]) -> str:
    """Where the crawl was when the kill came, for the figures."""
    outcomes = {r["id"]: r for r in runs(db) if r["id"] in run_ids}
    if not outcomes:
        return "before the run was recorded"
    if all(r["outcome"] != "running" for r in outcomes.values()):
        return "after the run ended"
    if not children:
        return "run recorded, crawler not started"
    first = min(r["started"] for r in outcomes.values() if r["outcome"] == "running")
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        (written,) = connection.execute(
            "SELECT COUNT(*) FROM articles WHERE updated >= ?", (first,)
        ).fetchone()
    return "crawl under way, storing" if written else "crawl under way, nothing committed yet"


# How a trial picks its kill point: a random delay after the run was recorded; a random
# moment after the run's first commit; the moment a feed file is being written.
KILL_POINTS = ("random", "storing", "feeds")


def wait_for_commit(db: Path, run_id: int, timeout: float) -> bool:
    """Until an article was written by run ``run_id`` (False: not within ``timeout``)."""
    deadline = time.monotonic() + timeout
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
        (started,) = connection.execute(
            "SELECT started FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        while time.monotonic() < deadline:
            if connection.execute(
                "SELECT 1 FROM articles WHERE updated >= ? LIMIT 1", (started,)
            ).fetchone():
                return True
            time.sleep(0.005)
    return False


def wait_for_temp_file(feeds: Path, timeout: float) -> bool:
    """Until a feed's temporary file exists that was not there before (False: not
    within ``timeout``)."""
    old = {p.name for p in feeds.glob(".*.tmp")}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with os.scandir(feeds) as entries:
            if any(e.name.endswith(".tmp") and e.name not in old for e in entries):
                return True
        time.sleep(0.0005)
    return False


def kill_window(db: Path) -> float:
    """How long after its record a run may be killed: the longest complete run so far
    (the first crawl, the runs kills did not reach), within bounds."""
    spans = [_seconds(r) for r in runs(db) if r["outcome"] == "ok" and r["finished"]]
    return min(MAX_KILL_DELAY, max([MIN_KILL_WINDOW, *spans]))


def _seconds(run: dict) -> float:
    from datetime import datetime

    return (
        datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"])
    ).total_seconds()


# Odd trials crawl with small store batches (a commit every few articles), so that more
# kill points fall between commits of one run; even ones with the shipped settings (one
# commit of up to 500 articles every 2 s, mostly one at the end of such a run).
SMALL_BATCHES = """\
from crawler.settings import *  # noqa: F403

STORE_BATCH_SIZE = 10
STORE_BATCH_SECONDS = 0.1
"""


def test_kill_9_of_serve_during_crawls_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("FEEDMILL_CRASH_SEED", str(time.time_ns() % 1_000_000)))
    rng = random.Random(seed)
    started = time.monotonic()
    project = tmp_path / "project"
    docs = project / "bulk"
    write_documents(docs, range(DOCUMENTS))
    editions = dict.fromkeys(range(DOCUMENTS), "初版")
    (project / "feedmill.toml").write_text(project_config(every="1s"), encoding="utf-8")
    (project / "small_batches.py").write_text(SMALL_BATCHES, encoding="utf-8")
    data = project / "var"
    db = data / "feedmill.sqlite3"
    feeds = data / "feeds"
    # A first crawl stores the documents, so that each trial's run has a few hundred
    # changes to write: it reaches its commits and its feeds within the kill window.
    crawl = run_feedmill(project, "crawl", "-q", timeout=120)
    assert crawl.returncode == 0, crawl.stderr
    figures: list[str] = []
    phases: Counter[str] = Counter()
    cut_off: list[int] = []  # runs left "running" by the previous kill
    service: Service | None = None
    try:
        for trial in range(TRIALS):
            assert time.monotonic() - started < TEST_BUDGET, (
                f"seed {seed}: {trial} trials took longer than {TEST_BUDGET:g}s"
            )
            if trial:  # give the next run work: edited documents and new ones
                edition = f"第{trial}版"
                for number in rng.sample(sorted(editions), EDITED_PER_TRIAL):
                    editions[number] = edition
                    (docs / f"{number:05d}.txt").write_text(
                        document(number, edition, day=1 + trial % 28), encoding="utf-8"
                    )
                fresh = range(len(editions), len(editions) + ADDED_PER_TRIAL)
                write_documents(docs, fresh, edition)
                editions.update(dict.fromkeys(fresh, edition))
            last_run = max((r["id"] for r in runs(db)), default=0) if db.exists() else 0
            with monkeypatch.context() as env:
                if trial % 2:  # the crawler child reads it (python -m runs in project/)
                    env.setenv("SCRAPY_SETTINGS_MODULE", "small_batches")
                service = Service(project, free_port())
            service.wait_ready()
            if cut_off:
                # serve marks them at start-up, before it answers
                after = {r["id"]: r for r in runs(db)}
                for run_id in cut_off:
                    assert after[run_id]["outcome"] == "interrupted", (seed, trial, after[run_id])
                    assert after[run_id]["finished"], after[run_id]
            # The next scheduled run happens (the one missed while down runs at once).
            new_runs = wait_until(
                lambda: [r["id"] for r in runs(db) if r["id"] > last_run],  # noqa: B023
                30,
                f"trial {trial}: the scheduled run after the restart",
                interval=0.01,
            )
            assert runs(db)[-1]["trigger"] == "schedule"
            recorded = time.monotonic()
            kind = KILL_POINTS[trial % len(KILL_POINTS)]
            if kind == "storing":  # once the run has committed articles
                wait_for_commit(db, new_runs[0], timeout=6.0)
                time.sleep(rng.uniform(0.0, 0.05))
            elif kind == "feeds":  # as soon as a feed file is being written
                wait_for_temp_file(feeds, timeout=6.0)
            else:
                # Within the span a run takes on this machine (from record to end, the
                # child's start-up included: 0.6 s here, 3 s on a loaded one), so that
                # most random kills land while the crawl is under way, not after it.
                time.sleep(rng.uniform(0.0, kill_window(db)))
            delay = time.monotonic() - recorded
            before = article_ids(db)
            children = processes_of(data)
            phase = phase_at_kill(db, new_runs, children)
            if len(children) > 1:
                phase += " (with reader processes)"
            service.process.kill()
            service.process.wait(timeout=10)
            # The crawler child (own session) and its readers die with the service.
            survivors = wait_gone(children + processes_of(data), 5.0)
            kill_all(survivors)
            assert not survivors, f"seed {seed} trial {trial}: still running after the kill"
            phases[phase] += 1

            assert integrity(db) == "ok", (seed, trial)
            after_ids = article_ids(db)
            lost = before - after_ids
            assert not lost, f"seed {seed} trial {trial}: {len(lost)} stored articles lost"
            assert not duplicates(db), (seed, trial)
            written = check_feed_files(feeds) if feeds.exists() else {}
            temps = sorted(p.name for p in feeds.glob(".*.tmp")) if feeds.exists() else []
            cut_off = [r["id"] for r in runs(db) if r["outcome"] == "running"]
            figures.append(
                f"trial {trial:2d}: {kind} kill {delay:4.2f}s after the run was recorded "
                f"({phase}); articles {len(before)} -> {len(after_ids)}; "
                f"{len(written)} feed files whole; {len(temps)} temp files; "
                f"runs cut off {cut_off}"
            )

        # A last restart: the next run completes and the store holds every document once.
        last_run = max(r["id"] for r in runs(db))
        service = Service(project, free_port())
        service.wait_ready()
        if cut_off:
            after = {r["id"]: r for r in runs(db)}
            assert all(after[run_id]["outcome"] == "interrupted" for run_id in cut_off)
        for name in {p.name for p in feeds.glob(".*.tmp")}:
            # leftovers of a write the kill cut short are never served
            assert service.get(f"/feeds/{name}")[0] == 404
        wait_until(
            lambda: any(
                r["id"] > last_run and r["outcome"] == "ok" and r["trigger"] == "schedule"
                for r in runs(db)
            ),
            60,
            "a complete run after the last restart",
            interval=0.1,
        )
        assert service.stop(signal.SIGTERM, timeout=60) == 0
        # What killed writers left is gone: swept at start-up, or by the next write.
        left = sorted(p.name for p in feeds.glob(".*.tmp"))
        assert not left, left
        assert integrity(db) == "ok"
        assert not duplicates(db)
        expected = {article_id("bulk", f"{n:05d}.txt") for n in editions}
        assert article_ids(db) == expected
        with contextlib.closing(sqlite3.connect(db)) as connection:
            titles = dict(connection.execute("SELECT key, title FROM articles"))
        stale = [n for n, ed in editions.items() if ed not in titles[f"{n:05d}.txt"]]
        assert not stale, f"{len(stale)} documents' last edit is missing from the store"
        outcomes = Counter(r["outcome"] for r in runs(db))
        assert set(outcomes) <= {"ok", "interrupted"}, outcomes
        written = check_feed_files(feeds)
        assert all(len(ids) == 50 for ids in written.values()), written
        took = [
            f"{r['new']}+{r['updated']} in {_seconds(r):.1f}s"
            for r in runs(db)
            if r["outcome"] == "ok"
        ]
        figures.append(f"complete runs (new+updated in time): {took}")
        figures.append(f"seed {seed}: {TRIALS} kills, phases {dict(phases)}, runs {dict(outcomes)}")
        figures.append(f"{time.monotonic() - started:.0f}s in all")
        print("\n".join(figures))
    finally:
        if service is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)
        leftovers = processes_of(data)
        kill_all(leftovers)
        wait_gone(leftovers, 5.0)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def test_reader_processes_die_with_a_killed_crawl(tmp_path: Path) -> None:
    """kill -9 of the crawl alone (as the scheduler's SIGKILL at a timeout does to a
    child that ignores SIGTERM, or the OOM killer): its forked readers exit too."""
    project = tmp_path / "project"
    write_documents(project / "bulk", range(3000))
    (project / "feedmill.toml").write_text(project_config(), encoding="utf-8")
    data = project / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    env.update(FEEDMILL_CONFIG=str(project / "feedmill.toml"), FEEDMILL_DATA_DIR=str(data))
    crawl = subprocess.Popen(
        [sys.executable, "-m", "crawler.run", "-s", "FILES_WORKERS=2", "bulk"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    readers: list[int] = []
    try:
        readers = wait_until(lambda: children_of(crawl.pid), 60, "reader processes")
        crawl.kill()
        crawl.wait(timeout=10)
        survivors = wait_gone(readers, 5.0)
        assert not survivors, f"readers {survivors} outlived their crawl"
        assert integrity(data / "feedmill.sqlite3") == "ok"
    finally:
        if crawl.poll() is None:
            crawl.kill()
            crawl.wait(timeout=10)
        kill_all(readers + processes_of(data))
