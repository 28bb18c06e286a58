"""`feedmill serve` as a user runs it: a real process on a free port, real signals."""

from __future__ import annotations

import contextlib
import gzip
import json
import signal
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from feeds.store import SQLiteStore

from serve_helper import TOKEN, Service, free_port


def last_outcome(service: Service, name: str) -> str | None:
    run = service.sources().get(name, {}).get("last_run")
    return run["outcome"] if run else None


@pytest.fixture
def served(project: Path) -> Iterator[Service]:
    config = project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('every = "1h"', 'every = "3s"'),
        encoding="utf-8",
    )
    service = Service(project, free_port())
    try:
        service.wait_ready()
        yield service
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()


def test_scheduled_run_happens_and_its_feeds_are_served(served: Service) -> None:
    served.wait_for(lambda: last_outcome(served, "seeds") == "ok", what="a scheduled run")
    status, headers, body = served.get("/feeds/seeds.rss")
    assert status == 200
    assert headers["Content-Type"].startswith("application/rss+xml")
    assert not feedparser.parse(body).bozo
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert served.get("/feeds/seeds.rss", {"If-None-Match": etag})[0] == 304
    assert served.get("/feeds/seeds.rss", {"If-Modified-Since": modified})[0] == 304
    status, headers, zipped = served.get("/feeds/all.atom", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip"
    assert b"<feed" in gzip.decompress(zipped)
    assert served.get("/feeds/seeds.json")[1]["Content-Type"].startswith("application/feed+json")


def test_run_now_needs_the_token_and_refuses_overlap(served: Service) -> None:
    assert served.post("/api/sources/seeds/run")[0] == 401
    assert served.post("/api/sources/seeds/run", token="wrong")[0] == 401
    assert served.post("/api/sources/nope/run", token=TOKEN)[0] == 404
    codes = set()
    for _ in range(3):
        status, body = served.post("/api/sources/seeds/run", token=TOKEN)
        codes.add(status)
        if status == 202:
            assert isinstance(json.loads(body)["run_id"], int)
    assert codes and codes <= {202, 409}  # started, or refused while running: never queued


def test_sighup_reload_adds_a_source_and_rejects_a_broken_file(served: Service) -> None:
    config = served.project / "feedmill.toml"
    good = config.read_text(encoding="utf-8")
    (served.project / "more").mkdir()
    config.write_text(
        good + '\n[sources.more]\nkind = "files"\npath = "more"\nevery = "1h"\n', encoding="utf-8"
    )
    served.process.send_signal(signal.SIGHUP)
    served.wait_for(lambda: "more" in served.sources(), what="the new source")
    config.write_text(good + "\n[sources.broken]\nkind = 5\n", encoding="utf-8")
    served.process.send_signal(signal.SIGHUP)
    served.wait_for(lambda: "broken" in served.log.read_text(), what="the rejection")
    assert "more" in served.sources()  # the old configuration stays in force
    assert served.process.poll() is None


def test_sigterm_exits_cleanly(served: Service) -> None:
    assert served.stop(signal.SIGTERM) == 0


def test_kill_9_mid_run_then_restart_leaves_a_consistent_store(served: Service) -> None:
    seeds = served.project / "seeds"
    seed = next(seeds.iterdir()).read_text(encoding="utf-8")
    for number in range(1500):
        (seeds / f"{number:05d}.txt").write_text(seed.replace("12355", str(number)), "utf-8")
    served.post("/api/sources/seeds/run", token=TOKEN)
    db = served.project / "var" / "feedmill.sqlite3"
    served.wait_for(
        lambda: sqlite3.connect(db).execute("SELECT COUNT(*) FROM articles").fetchone()[0] > 1,
        what="articles being stored",
    )
    served.process.kill()
    served.process.wait()
    connection = sqlite3.connect(db)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    again = Service(served.project, free_port())
    try:
        again.wait_ready()
        outcomes = [r["outcome"] for r in json.loads(again.get("/api/runs?source=seeds")[2])]
        assert "running" not in outcomes[1:]  # nothing left dangling from the killed one
        again.wait_for(lambda: last_outcome(again, "seeds") == "ok", what="the next run")
        for fmt in ("rss", "atom"):
            assert not feedparser.parse(again.get(f"/feeds/seeds.{fmt}")[2]).bozo
    finally:
        again.stop(signal.SIGKILL)


def test_port_taken_is_a_clear_error(project: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        service = Service(project, port)
        assert service.process.wait(timeout=60) != 0
    assert str(port) in service.log.read_text()


def test_unwritable_data_dir_is_a_clear_error(project: Path) -> None:
    blocker = project / "not-a-dir"
    blocker.write_text("x")
    service = Service(project, free_port(), "--data-dir", str(blocker / "var"))
    assert service.process.wait(timeout=60) != 0
    assert "not-a-dir" in service.log.read_text()


def test_a_second_serve_on_the_same_data_stands_by_and_takes_over(served: Service) -> None:
    """Two serve processes on one data directory (SQLite): the first schedules, the
    second serves feeds and leads once the first is killed."""
    project = served.project
    standby = Service(project, free_port())
    try:
        standby.wait_ready()
        health = json.loads(standby.get("/healthz")[2])["scheduler"]
        assert health["state"] == "standby"
        assert health["leadership"]["holder"].endswith(f":{served.process.pid}")
        assert standby.post("/api/sources/seeds/run", TOKEN)[0] == 503
        served.wait_for(lambda: last_outcome(served, "seeds") == "ok", what="a scheduled run")
        served.process.kill()
        served.process.wait()
        standby.wait_for(
            lambda: json.loads(standby.get("/healthz")[2])["scheduler"]["state"] == "running",
            30,
            "the standby to lead",
        )
        db = sqlite3.connect(project / "var" / "feedmill.sqlite3")
        try:
            before = db.execute("SELECT max(id) FROM runs").fetchone()[0]
        finally:
            db.close()
        standby.wait_for(
            lambda: (standby.sources()["seeds"].get("last_run") or {}).get("id", 0) > before,
            30,
            "a scheduled run by the new leader",
        )
        assert standby.post("/api/sources/seeds/run", TOKEN)[0] in (202, 409)
    finally:
        if standby.process.poll() is None:
            standby.process.kill()
            standby.process.wait()


def test_run_history_stays_bounded_with_its_log_files(project: Path) -> None:
    """A service left for months: each source keeps its newest ``keep_runs`` finished
    runs and their log files. Runs an earlier life left beyond that are forgotten at
    start-up with their logs; a run under way is never touched."""
    config = project / "feedmill.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[service]\n", "[service]\nkeep_runs = 3\n", 1), encoding="utf-8"
    )
    data = project / "var"
    logs = data / "logs" / "seeds"
    logs.mkdir(parents=True)
    (data / "logs" / "batches").mkdir()

    with SQLiteStore.in_data_dir(data) as store:
        old = []
        for n in range(12):
            run_id = store.start_run("seeds", trigger="schedule")
            store.finish_run(run_id, "ok", log_tail=f"run {n}")
            (logs / f"{run_id}.log").write_text(f"run {n}\n", encoding="utf-8")
            old.append(run_id)
        (data / "logs" / "batches" / f"{old[0]}.log").write_text("batch\n", encoding="utf-8")
        other = store.start_run("gone", trigger="schedule")  # a source no longer configured
        store.finish_run(other, "failed", error="boom")
    service = Service(project, free_port())
    try:
        service.wait_ready()

        def kept() -> list[int]:
            with contextlib.closing(sqlite3.connect(data / "feedmill.sqlite3")) as db:
                rows = db.execute("SELECT id FROM runs WHERE source = 'seeds' ORDER BY id")
                return [run_id for (run_id,) in rows]

        service.wait_for(lambda: kept()[:3] == old[-3:], what="the start-up pruning")
        assert set(kept()) - set(old[-3:]) <= {max(kept())}  # at most the run it started
        left = sorted(int(p.stem) for p in logs.glob("*.log") if int(p.stem) in old)
        assert left == old[-3:]
        assert not (data / "logs" / "batches" / f"{old[0]}.log").exists()
        assert "forgot 9 run(s) beyond the newest 3" in service.log.read_text()
        with contextlib.closing(sqlite3.connect(data / "feedmill.sqlite3")) as db:
            assert db.execute("SELECT count(*) FROM runs WHERE source = 'gone'").fetchone() == (1,)
        assert service.stop(signal.SIGTERM) == 0
    finally:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait()
