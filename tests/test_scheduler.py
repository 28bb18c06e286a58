"""The scheduler side of ``feedmill serve``: runs as child processes, schedules, reloads.

Every run here is a real child process: the real crawler for the seeds source, and for
hangs and crashes tiny Python children put in its place through RunManager's
``command_for`` hook. Coroutines are driven with ``asyncio.run`` (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds.config import Schedule, load_config
from feeds.errors import SourceBusy, StoreError, UnknownSource
from feeds.store import SCHEMA_VERSION, Run, SQLiteStore
from scheduler import (
    ConfigWatcher,
    RunError,
    RunManager,
    Scheduler,
    ScheduleState,
    ShuttingDown,
    crawler_command,
)
from scheduler.runs import NextRun
from scheduler.triggers import build_trigger, crontab_for_apscheduler

from support import ROOT

HANG = [sys.executable, "-c", "import time; time.sleep(60)"]
HANG_IGNORING_SIGTERM = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring SIGTERM', flush=True); time.sleep(60)",
]
CRASH = [
    sys.executable,
    "-c",
    "import sys; print('boom: the spider fell over', file=sys.stderr); sys.exit(3)",
]


# -- helpers ---------------------------------------------------------------------------


def make_project(tmp_path: Path, extra: str = "", every: str | None = "2s") -> Path:
    """feedmill.toml and seeds/ copied from the repo root, in ``tmp_path/project``."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "seeds", project / "seeds")
    write_config(project, every, extra)
    return project


def write_config(project: Path, every: str | None, extra: str = "") -> None:
    """The repo's feedmill.toml with seeds' schedule set to ``every`` (None: on demand),
    and ``extra`` sources appended."""
    text = (ROOT / "feedmill.toml").read_text(encoding="utf-8")
    assert 'every = "1h"' in text
    text = text.replace('every = "1h"', f'every = "{every}"' if every else "")
    (project / "feedmill.toml").write_text(text + extra, encoding="utf-8")


def files_source(name: str, schedule: str = "") -> str:
    """A source that would read the seeds folder; tests give it a child of their own."""
    return f'\n[sources.{name}]\nkind = "files"\npath = "seeds"\n{schedule}\n'


def commands(**by_source: list[str]) -> Callable[[list[str], dict[str, int]], list[str]]:
    """command_for: the given command for some sources, the real crawler for the others."""

    def command_for(sources: list[str], run_ids: dict[str, int]) -> list[str]:
        [source] = sources  # these tests do not batch
        return by_source.get(source) or crawler_command(sources, run_ids)

    return command_for


def runs_of(data_dir: Path, source: str) -> list[Run]:
    with SQLiteStore.in_data_dir(data_dir) as store:
        return store.runs(source, limit=100)


def finished_runs(data_dir: Path, source: str) -> list[Run]:
    return [run for run in runs_of(data_dir, source) if run.outcome != "running"]


def run_over(manager: RunManager, data_dir: Path, source: str) -> bool:
    """A run of ``source`` has ended and the manager is done with it (log tail attached)."""
    return bool(finished_runs(data_dir, source)) and source not in manager.running()


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- runs ------------------------------------------------------------------------------


def test_run_of_the_real_crawler_is_recorded_with_counts_and_log(tmp_path: Path) -> None:
    project = make_project(tmp_path, every=None)
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")

    async def scenario() -> tuple[int, str]:
        manager = RunManager(config, data_dir)
        run_id = await manager.start("seeds", "api")
        assert manager.running() == {"seeds": run_id}
        outcome = await manager.wait(run_id)
        assert manager.running() == {}
        assert await manager.wait(run_id) == outcome  # asking again after the end
        await manager.shutdown()
        return run_id, outcome

    run_id, outcome = asyncio.run(scenario())
    assert outcome == "ok"
    with SQLiteStore.in_data_dir(data_dir) as store:
        run = store.get_run(run_id)
    assert run is not None
    assert (run.source, run.trigger, run.outcome) == ("seeds", "api", "ok")
    assert (run.fetched, run.new, run.updated, run.unchanged, run.failed) == (1, 1, 0, 0, 0)
    log = data_dir / "logs" / "seeds" / f"{run_id}.log"
    assert f"run {run_id} of source 'seeds'" in log.read_text(encoding="utf-8")
    assert run.log_tail and run.log_tail in log.read_text(encoding="utf-8")
    assert len(run.log_tail.splitlines()) <= 50
    assert (data_dir / "feeds" / "seeds.rss").exists()  # the child's FeedBuilder wrote them


def test_unknown_source_unknown_run_and_a_child_that_cannot_start(tmp_path: Path) -> None:
    config = load_config(make_project(tmp_path) / "feedmill.toml")

    async def scenario() -> None:
        manager = RunManager(config, tmp_path / "data")
        with pytest.raises(UnknownSource, match=r"no source named 'nope'.*known: seeds"):
            await manager.start("nope", "api")
        with pytest.raises(KeyError):
            await manager.wait(12345)
        # A child that cannot be spawned: the run is recorded failed, the source is free.
        manager.command_for = lambda sources, run_ids: [str(tmp_path / "no-such-program")]
        with pytest.raises(RunError, match="cannot start the crawler process"):
            await manager.start("seeds", "api")
        assert manager.running() == {}
        [run] = runs_of(tmp_path / "data", "seeds")
        assert run.outcome == "failed" and "no-such-program" in run.error
        assert await manager.wait(run.id) == "failed"
        await manager.shutdown()

    asyncio.run(scenario())


def test_second_start_while_running_is_refused_not_queued(tmp_path: Path) -> None:
    config = load_config(make_project(tmp_path, files_source("slow")) / "feedmill.toml")
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        manager = RunManager(config, data_dir, command_for=commands(slow=HANG), grace=2)
        first = await manager.start("slow", "api")
        with pytest.raises(SourceBusy, match=rf"'slow' is busy: run {first} \(api\)"):
            await manager.start("slow", "schedule")
        # Concurrent requests: exactly one gets through.
        results = await asyncio.gather(
            manager.start("seeds", "api"), manager.start("seeds", "api"), return_exceptions=True
        )
        assert sorted(type(r).__name__ for r in results) == ["SourceBusy", "int"]
        assert manager.running() == {
            "slow": first,
            "seeds": next(r for r in results if isinstance(r, int)),
        }
        await manager.wait(manager.running()["seeds"])
        await manager.shutdown()

    asyncio.run(scenario())
    assert len(runs_of(data_dir, "slow")) == 1
    assert len(runs_of(data_dir, "seeds")) == 1


def test_hanging_child_times_out_and_is_killed(tmp_path: Path) -> None:
    project = make_project(tmp_path, files_source("stuck", 'timeout = "1s"'))
    config = load_config(project / "feedmill.toml")
    data_dir = tmp_path / "data"

    async def scenario() -> tuple[int, int, str, float]:
        manager = RunManager(
            config, data_dir, command_for=commands(stuck=HANG_IGNORING_SIGTERM), grace=0.5
        )
        assert manager.timeout_for("stuck") == 1.0  # the source's own timeout
        assert manager.timeout_for("seeds") == 600.0
        run_id = await manager.start("stuck", "schedule")
        assert manager.running() == {"stuck": run_id}
        pid = manager.child_pid("stuck")
        started = time.monotonic()
        outcome = await manager.wait(run_id)
        elapsed = time.monotonic() - started
        await manager.shutdown()
        return run_id, pid, outcome, elapsed

    run_id, pid, outcome, elapsed = asyncio.run(scenario())
    assert outcome == "timeout"
    assert elapsed < 5
    assert not alive(pid)
    with SQLiteStore.in_data_dir(data_dir) as store:
        run = store.get_run(run_id)
    assert run is not None and run.outcome == "timeout"
    assert "timed out after 1s" in run.error
    assert "SIGKILL" in run.error  # it ignored SIGTERM, so the grace period ran out
    assert "ignoring SIGTERM" in run.log_tail


def test_timeout_wins_over_the_cancelled_the_child_records_on_sigterm(tmp_path: Path) -> None:
    """A crawler stopped by SIGTERM records ``cancelled`` with its counts; when the timeout
    sent it, the run ends as ``timeout`` and keeps those counts."""
    config = load_config(make_project(tmp_path, files_source("slowpoke")) / "feedmill.toml")
    data_dir = tmp_path / "data"
    script = (
        "import os, signal, sys, time\n"
        "from feeds.store import SQLiteStore\n"
        "run_id = int(sys.argv[1])\n"
        "def stop(*_):\n"
        "    with SQLiteStore.in_data_dir(os.environ['FEEDMILL_DATA_DIR']) as store:\n"
        "        store.finish_run(run_id, 'cancelled', {'fetched': 4, 'new': 2},\n"
        "                         error='spider closed: shutdown')\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('crawling', flush=True)\n"
        "time.sleep(60)\n"
    )

    def command_for(sources: list[str], run_ids: dict[str, int]) -> list[str]:
        return [sys.executable, "-c", script, str(run_ids[sources[0]])]

    async def scenario() -> int:
        manager = RunManager(
            config, data_dir, command_for=command_for, timeout_for=lambda source: 1.0
        )
        run_id = await manager.start("slowpoke", "api")
        assert await manager.wait(run_id) == "timeout"
        await manager.shutdown()
        return run_id

    run_id = asyncio.run(scenario())
    with SQLiteStore.in_data_dir(data_dir) as store:
        run = store.get_run(run_id)
    assert run is not None
    assert (run.outcome, run.fetched, run.new) == ("timeout", 4, 2)
    assert run.error.startswith("timed out after 1s")
    assert "crawling" in run.log_tail


def test_shutdown_terminates_running_children_and_records_cancelled(tmp_path: Path) -> None:
    extra = files_source("one") + files_source("two")
    config = load_config(make_project(tmp_path, extra) / "feedmill.toml")
    data_dir = tmp_path / "data"

    async def scenario() -> tuple[dict[str, int], list[int], float]:
        manager = RunManager(
            config, data_dir, command_for=commands(one=HANG, two=HANG_IGNORING_SIGTERM)
        )
        await manager.start("one", "api")
        await manager.start("two", "schedule")
        await asyncio.sleep(0.3)  # let "two" install its handler
        ids = manager.running()
        pids = [manager.child_pid(source) for source in manager.running()]
        started = time.monotonic()
        await manager.shutdown(grace=1.0)
        elapsed = time.monotonic() - started
        assert manager.running() == {}
        with pytest.raises(ShuttingDown, match="shutting down"):
            await manager.start("seeds", "api")
        return ids, pids, elapsed

    ids, pids, elapsed = asyncio.run(scenario())
    assert elapsed < 4
    assert not any(alive(pid) for pid in pids)
    with SQLiteStore.in_data_dir(data_dir) as store:
        one, two = store.get_run(ids["one"]), store.get_run(ids["two"])
    assert one is not None and two is not None
    assert one.outcome == two.outcome == "cancelled"
    assert "shut down" in one.error and "SIGTERM" in one.error
    assert "SIGKILL" in two.error


# -- schedules -------------------------------------------------------------------------


def test_scheduled_run_happens_and_is_recorded(tmp_path: Path) -> None:
    project = make_project(tmp_path, every="2s")
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")

    async def scenario() -> dict[str, datetime | None]:
        manager = RunManager(config, data_dir)
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        assert scheduler.state()["state"] == "running"
        assert scheduler.state()["jobs"] == 1
        first = scheduler.next_runs()["seeds"]
        assert first is not None
        assert 1 < (first - datetime.now(UTC)).total_seconds() <= 2
        await wait_until(lambda: run_over(manager, data_dir, "seeds"), 15, "a scheduled run")
        next_runs = scheduler.next_runs()
        scheduler.shutdown()
        await manager.shutdown()
        return next_runs

    next_runs = asyncio.run(scenario())
    run = finished_runs(data_dir, "seeds")[-1]
    assert (run.trigger, run.outcome, run.fetched, run.new) == ("schedule", "ok", 1, 1)
    assert run.log_tail
    persisted = ScheduleState(data_dir).load()
    assert persisted["seeds"] == next_runs["seeds"]
    assert persisted["seeds"] > run.started


def test_crashing_child_is_recorded_failed_and_the_schedule_goes_on(tmp_path: Path) -> None:
    config = load_config(
        make_project(tmp_path, files_source("crashy", 'every = "1s"'), every=None) / "feedmill.toml"
    )
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        manager = RunManager(config, data_dir, command_for=commands(crashy=CRASH))
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        next_runs = scheduler.next_runs()
        assert next_runs["seeds"] is None and next_runs["crashy"] is not None
        await wait_until(lambda: len(finished_runs(data_dir, "crashy")) >= 2, 10, "two runs")
        assert scheduler.state()["state"] == "running"
        scheduler.shutdown()
        await manager.shutdown()

    asyncio.run(scenario())
    runs = finished_runs(data_dir, "crashy")
    assert len(runs) >= 2
    for run in runs:
        assert (run.trigger, run.outcome) == ("schedule", "failed")
        assert run.error == "the crawler process exited with status 3 before the run ended"
        assert "boom: the spider fell over" in run.log_tail
    assert runs_of(data_dir, "seeds") == []  # on demand only


def test_job_firing_while_the_source_runs_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler")
    config = load_config(
        make_project(tmp_path, files_source("slow", 'every = "1s"'), every=None) / "feedmill.toml"
    )
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        manager = RunManager(config, data_dir, command_for=commands(slow=HANG), grace=1)
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        await wait_until(lambda: "slow" in manager.running(), 5, "the first run")
        await wait_until(
            lambda: "scheduled run skipped" in caplog.text, 5, "a skipped scheduled run"
        )
        scheduler.shutdown()
        await manager.shutdown()

    asyncio.run(scenario())
    assert len(runs_of(data_dir, "slow")) == 1  # skipped, not queued
    skipped = [r for r in caplog.records if "scheduled run skipped" in r.getMessage()]
    assert skipped and all(r.levelno == logging.INFO for r in skipped)
    assert "'slow' is busy" in skipped[0].getMessage()


def test_missed_runs_after_downtime_are_coalesced_into_one(tmp_path: Path) -> None:
    project = make_project(tmp_path, every="1h")
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")
    # Down for a day: 24 runs were due.
    ScheduleState(data_dir).save("seeds", datetime.now(UTC) - timedelta(days=1))

    async def scenario() -> datetime | None:
        manager = RunManager(config, data_dir)
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        await wait_until(lambda: run_over(manager, data_dir, "seeds"), 10, "the catch-up run")
        await asyncio.sleep(1.0)  # time for a second run, if there were to be one
        next_run = scheduler.next_runs()["seeds"]
        scheduler.shutdown()
        await manager.shutdown()
        return next_run

    next_run = asyncio.run(scenario())
    runs = runs_of(data_dir, "seeds")
    assert [(r.trigger, r.outcome) for r in runs] == [("schedule", "ok")]
    assert next_run is not None
    assert timedelta(minutes=59) < next_run - datetime.now(UTC) <= timedelta(hours=1)
    assert ScheduleState(data_dir).load()["seeds"] == next_run


def test_persisted_next_run_in_the_future_survives_a_restart(tmp_path: Path) -> None:
    project = make_project(tmp_path, every="1h", extra=files_source("other", 'every = "1h"'))
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")
    due = datetime.now(UTC) + timedelta(minutes=10)
    state = ScheduleState(data_dir)
    state.save_many({"seeds": due, "gone": due})  # "gone" is no longer in the config

    async def scenario() -> dict[str, datetime | None]:
        manager = RunManager(config, data_dir)
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        await asyncio.sleep(0.2)
        next_runs = scheduler.next_runs()
        scheduler.shutdown()
        await manager.shutdown()
        return next_runs

    next_runs = asyncio.run(scenario())
    assert next_runs["seeds"] == due
    other = next_runs["other"]
    assert other is not None and timedelta(minutes=59) < other - datetime.now(UTC)
    assert runs_of(data_dir, "seeds") == []
    assert set(state.load()) == {"seeds", "other"}


def test_reload_adds_changes_and_removes_sources(tmp_path: Path) -> None:
    project = make_project(tmp_path, every="1h", extra=files_source("keep", 'every = "1h"'))
    data_dir = tmp_path / "data"
    path = project / "feedmill.toml"
    config = load_config(path)

    def rewrite(keep_every: str) -> None:
        # seeds loses its schedule, keep is kept (or re-timed), two sources are added.
        write_config(
            project,
            every=None,
            extra=files_source("keep", f'every = "{keep_every}"')
            + files_source("added", 'every = "1s"')
            + files_source("later", 'cron = "0 9 * * 1"'),
        )

    async def scenario() -> None:
        manager = RunManager(config, data_dir, command_for=commands(added=CRASH))
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        keep_next = scheduler.next_runs()["keep"]
        rewrite(keep_every="1h")
        scheduler.reload(load_config(path))
        next_runs = scheduler.next_runs()
        assert next_runs["seeds"] is None  # now on demand only
        assert next_runs["keep"] == keep_next  # unchanged schedule, not re-timed
        assert next_runs["added"] is not None
        later = next_runs["later"]
        assert later is not None and later.strftime("%A %H:%M") == "Monday 09:00"
        assert scheduler.state()["jobs"] == 3
        assert set(ScheduleState(data_dir).load()) == {"keep", "added", "later"}
        # An added source runs on its schedule: the manager knows it too.
        await wait_until(lambda: finished_runs(data_dir, "added"), 5, "a run of the new source")
        # A changed schedule is re-timed from now.
        rewrite(keep_every="5m")
        scheduler.reload(load_config(path))
        keep = scheduler.next_runs()["keep"]
        assert keep is not None and keep - datetime.now(UTC) <= timedelta(minutes=5)
        assert ScheduleState(data_dir).load()["keep"] == keep
        # And a source dropped from the file is unscheduled and forgotten.
        write_config(project, every=None, extra=files_source("keep", 'every = "5m"'))
        scheduler.reload(load_config(path))
        assert scheduler.next_runs() == {"seeds": None, "keep": keep}
        assert set(ScheduleState(data_dir).load()) == {"keep"}
        scheduler.shutdown()
        await manager.shutdown()

    asyncio.run(scenario())
    assert runs_of(data_dir, "seeds") == []


def test_config_watcher_reloads_on_change_and_sighup_and_rejects_bad_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scheduler")
    project = make_project(tmp_path, every="1h")
    path = project / "feedmill.toml"
    data_dir = tmp_path / "data"
    config = load_config(path)
    good = path.read_text(encoding="utf-8")

    async def scenario() -> None:
        manager = RunManager(config, data_dir)
        scheduler = Scheduler(manager, config, data_dir)
        scheduler.start()
        watcher = ConfigWatcher(path, scheduler.reload, interval=0.05)
        watcher.start()
        try:
            # The file changes: a new source appears.
            path.write_text(good + files_source("fresh", 'every = "1h"'), encoding="utf-8")
            await wait_until(lambda: "fresh" in scheduler.next_runs(), 5, "the reload")
            # A bad file: rejected with the reason, the config in force stays.
            path.write_text(good + files_source("broken", 'every = "soon"'), encoding="utf-8")
            await wait_until(lambda: "config not reloaded" in caplog.text, 5, "the rejection")
            assert "source 'broken', key 'every'" in caplog.text
            assert set(scheduler.next_runs()) == {"seeds", "fresh"}
            assert set(manager.config.sources) == {"seeds", "fresh"}
            # SIGHUP reloads at once, whatever the file's times say.
            watcher.stop()
            watcher = ConfigWatcher(path, scheduler.reload, interval=3600.0)
            watcher.start()
            path.write_text(good, encoding="utf-8")
            os.kill(os.getpid(), signal.SIGHUP)
            await wait_until(lambda: "fresh" not in scheduler.next_runs(), 5, "the SIGHUP")
            assert "config reloaded (SIGHUP)" in caplog.text
        finally:
            watcher.stop()
            scheduler.shutdown()
            await manager.shutdown()

    asyncio.run(scenario())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "keeping the one in force" in errors[0].getMessage()


def test_runs_use_the_config_in_force_while_a_bad_edit_is_on_disk(tmp_path: Path) -> None:
    project = make_project(tmp_path, every=None)
    path = project / "feedmill.toml"
    data_dir = tmp_path / "data"
    config = load_config(path)
    good = path.read_text(encoding="utf-8")

    async def scenario() -> str:
        manager = RunManager(config, data_dir)
        # An edit the watcher rejects (or has not seen yet): a child would fail on it.
        path.write_text(good + "\n[sources.broken]\nkind = 'nope'\n", encoding="utf-8")
        run_id = await manager.start("seeds", "api")
        outcome = await manager.wait(run_id)
        await manager.shutdown()
        return outcome

    # The child reads the text in force, kept beside the file (relative paths hold).
    assert asyncio.run(scenario()) == "ok"
    snapshot = project / ".feedmill.toml.in-force"
    assert snapshot.read_text(encoding="utf-8") == good
    # Once the file is the one in force again, children read it and the copy goes.
    path.write_text(good, encoding="utf-8")
    assert RunManager(config, data_dir).child_config() == path
    assert not snapshot.exists()


# -- pieces ----------------------------------------------------------------------------


def test_crontab_weekdays_mean_what_crontab_means() -> None:
    assert crontab_for_apscheduler("0 9 * * 1") == "0 9 * * mon"
    assert crontab_for_apscheduler("0 9 * * 0") == crontab_for_apscheduler("0 9 * * 7")
    assert crontab_for_apscheduler("0 9 * * 1-5") == "0 9 * * mon,tue,wed,thu,fri"
    assert crontab_for_apscheduler("0 9 * * 5-7") == "0 9 * * sun,fri,sat"
    assert crontab_for_apscheduler("*/10 * * * *") == "*/10 * * * *"
    assert crontab_for_apscheduler("0 9 * * */2") == "0 9 * * sun,tue,thu,sat"
    with pytest.raises(ValueError, match="bad day of week"):
        crontab_for_apscheduler("0 9 * * 8")
    saturday = datetime(2026, 11, 28, 12, tzinfo=UTC)
    trigger = build_trigger(Schedule(cron="30 9 * * 1", timezone="Asia/Shanghai"))
    monday = trigger.get_next_fire_time(None, saturday)
    assert monday.isoformat() == "2026-11-30T09:30:00+08:00"
    jittered = build_trigger(Schedule(every=timedelta(minutes=10), jitter=timedelta(seconds=30)))
    fire = jittered.get_next_fire_time(saturday, saturday)
    assert timedelta(minutes=10) <= fire - saturday <= timedelta(minutes=10, seconds=30)


def test_schedule_state_lives_in_the_store(tmp_path: Path) -> None:
    # The scheduler's table is part of the store's schema, in the same file.
    ScheduleState(tmp_path).save("seeds", datetime(2030, 1, 1, tzinfo=UTC))
    db = sqlite3.connect(tmp_path / "feedmill.sqlite3")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT source, next_run FROM schedule_state").fetchall()
    finally:
        db.close()
    assert rows == [("seeds", "2030-01-01T00:00:00.000000+00:00")]


def test_scheduler_package_loads_neither_scrapy_nor_the_crawler() -> None:
    code = (
        "import sys, json, scheduler; print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('scrapy', 'crawler', 'twisted'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_a_scheduled_run_and_the_next_time_are_recorded_together(tmp_path: Path) -> None:
    project = make_project(tmp_path, every="1h")
    data_dir = tmp_path / "data"
    manager = RunManager(load_config(project / "feedmill.toml"), data_dir)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    run_id = manager._start_run("seeds", "schedule", NextRun(later))
    assert ScheduleState(data_dir).load() == {"seeds": later}
    with SQLiteStore.in_data_dir(data_dir) as store:
        assert store.get_run(run_id).outcome == "running"  # type: ignore[union-attr]
    # When the run cannot be recorded, the schedule does not move on without it.
    db = sqlite3.connect(data_dir / "feedmill.sqlite3")
    db.execute("DROP TABLE runs")
    db.close()
    with pytest.raises(StoreError):
        manager._start_run("seeds", "schedule", NextRun(later + timedelta(hours=1)))
    assert ScheduleState(data_dir).load() == {"seeds": later}
