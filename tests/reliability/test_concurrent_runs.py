"""One source asked for twice at once, and two crawls on one data directory (issue 6).

``feedmill serve`` with a source scheduled every second while the API asks for it too:
never two runs of the source at once (the run rows' time spans never overlap), a second
API request while a run is under way gets 409, and the schedule's job skips instead of
queueing. Then two ``feedmill crawl`` processes on the same data directory at the same
time, twice (all documents new, then a third of them edited): both exit 0, the store
passes ``PRAGMA integrity_check`` and holds every document exactly once, each article
counts as new (or updated) in exactly one of the two runs, and the feeds are whole.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

from faultkit import (
    article_ids,
    check_feed_files,
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

from serve_helper import TOKEN, Service, free_port
from support import feedmill_command

DOCUMENTS = 600


def touch_all(folder: Path) -> None:
    """New mtimes: the next run reads every document again (a run of a second or two)."""
    stamp = time.time_ns()
    for number, path in enumerate(sorted(folder.iterdir())):
        os.utime(path, ns=(stamp + number, stamp + number))


def test_api_and_schedule_asking_at_once_give_one_run(tmp_path: Path) -> None:
    project = tmp_path / "project"
    docs = project / "bulk"
    write_documents(docs, range(DOCUMENTS))
    (project / "feedmill.toml").write_text(project_config(every="1s"), encoding="utf-8")
    db = project / "var" / "feedmill.sqlite3"
    service = Service(project, free_port())
    codes: list[tuple[int, int]] = []
    try:
        service.wait_ready()
        deadline = time.monotonic() + 60
        while len(codes) < 6 and time.monotonic() < deadline:
            wait_until(lambda: not service.sources()["bulk"]["running"], 60, "the run to end")
            touch_all(docs)
            if len(codes) % 2:
                # Every other round, give the 1-second schedule time to fire while the
                # source is idle: the API request then meets a scheduled run.
                time.sleep(1.5)
            first = service.post("/api/sources/bulk/run", token=TOKEN)[0]
            second = service.post("/api/sources/bulk/run", token=TOKEN)[0]
            codes.append((first, second))
            # whoever started it (API or schedule), a second request is refused, not queued
            assert second == 409, codes
            assert first in (202, 409), codes
        assert len(codes) == 6, f"only {len(codes)} rounds in 60 s"
        assert (202, 409) in codes, codes  # the API did start runs
        wait_until(lambda: not service.sources()["bulk"]["running"], 60, "the last run")
        assert service.stop(signal.SIGTERM) == 0
        log = service.log.read_text()
        rows = [r for r in runs(db, "bulk")]
        triggers = {r["trigger"] for r in rows}
        assert {"api", "schedule"} <= triggers, triggers
        assert "scheduled run skipped" in log  # the job fired during a run and gave way
        spans = sorted(
            (datetime.fromisoformat(r["started"]), datetime.fromisoformat(r["finished"]), r["id"])
            for r in rows
        )
        for (_, end, one), (begin, _, other) in itertools.pairwise(spans):
            assert begin >= end, f"runs {one} and {other} of one source overlap"
        assert {r["outcome"] for r in rows} <= {"ok", "cancelled"}, rows
        assert integrity(db) == "ok" and not duplicates(db)
        assert len(article_ids(db)) == DOCUMENTS
        print(
            f"api+schedule: {len(rows)} runs, none overlapping; API answers {codes}; "
            f"scheduled runs skipped {log.count('scheduled run skipped')} times"
        )
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)
        leftovers = processes_of(project / "var")
        kill_all(leftovers)
        wait_gone(leftovers, 5)


def test_two_crawls_on_one_data_directory_at_once(tmp_path: Path) -> None:
    project = tmp_path / "project"
    docs = project / "bulk"
    count = 1500
    write_documents(docs, range(count))
    (project / "feedmill.toml").write_text(project_config(), encoding="utf-8")
    data = project / "var"
    db = data / "feedmill.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    figures = []
    for round_, (edited, column) in enumerate([(count, "new"), (count // 3, "updated")]):
        if round_:
            write_documents(docs, range(edited), "改版")
        before = max((r["id"] for r in runs(db)), default=0) if db.exists() else 0
        crawls = [
            subprocess.Popen(
                [feedmill_command(), "crawl", "-q"],
                cwd=project,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            outputs = [crawl.communicate(timeout=180) for crawl in crawls]
        finally:
            for crawl in crawls:
                if crawl.poll() is None:
                    crawl.kill()
                    crawl.wait(timeout=10)
            kill_all(processes_of(data))
        for crawl, (out, err) in zip(crawls, outputs, strict=True):
            assert crawl.returncode == 0, (out, err)
        assert integrity(db) == "ok"
        assert not duplicates(db)
        assert article_ids(db) == {article_id("bulk", f"{n:05d}.txt") for n in range(count)}
        both = [r for r in runs(db, "bulk") if r["id"] > before]
        assert len(both) == 2 and {r["outcome"] for r in both} == {"ok"}, both
        # Each article was written by one of them; the other found it unchanged.
        assert sum(r[column] for r in both) == edited, both
        for r in both:
            assert r["new"] + r["updated"] + r["unchanged"] + r["failed"] == count, r
        written = check_feed_files(data / "feeds")
        assert len(written) == 6 and all(len(ids) == 50 for ids in written.values())
        figures.append(
            f"round {round_}: {column} {[r[column] for r in both]}, "
            f"unchanged {[r['unchanged'] for r in both]}"
        )
    print("two crawls at once: " + "; ".join(figures))
