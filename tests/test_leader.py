"""Scheduler leadership (scheduler/leader.py): exactly one serve process schedules.

The PostgreSQL cases use the real server on 127.0.0.1:5432, database ``test`` (user
``postgres``, else the current user; ``$FEEDMILL_TEST_DATABASE_URL`` overrides), as
tests/pg_support.py finds it: when no server answers they fail under CI (``$CI``
set) and are skipped elsewhere. Each test takes an advisory key of its own, so tests and
concurrent test runs never contend for one lock. Takeovers after a kill are checked with
real processes killed by SIGKILL, since that is the case the election exists for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pg_support import require_url

from scheduler.leader import FileLeadership, Leadership, PostgresLeadership, leadership_for

from support import ROOT

INTERVAL = 0.3
# A standby retries every interval and, with PostgreSQL, waits one more before leading;
# the bound leaves room for connecting and a loaded test machine.
TAKEOVER_BOUND = 4 * INTERVAL + 2.0


@pytest.fixture(scope="session")
def pg_url() -> str:
    return require_url()


@pytest.fixture
def key() -> str:
    return f"feedmill-test-{secrets.token_hex(6)}"


class Recorder:
    """An on_change callback that keeps what it was told and when."""

    def __init__(self) -> None:
        self.calls: list[tuple[bool, float]] = []

    def __call__(self, leader: bool) -> None:
        self.calls.append((leader, time.monotonic()))

    @property
    def values(self) -> list[bool]:
        return [value for value, _ in self.calls]


async def _until(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition()`` holds; fails the test after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:g} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


# -- a leader in another process, for kill -9 ----------------------------------------

_CHILD = """
import asyncio, sys
from pathlib import Path
from scheduler.leader import FileLeadership, PostgresLeadership

async def main():
    kind, target, key = sys.argv[1:4]
    say = lambda leader: print("leader" if leader else "standby", flush=True)
    if kind == "postgres":
        election = PostgresLeadership(target, say, interval=0.3, key=key, identity="child")
    else:
        election = FileLeadership(Path(target), say, interval=0.3, identity="child")
    await election.start()
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a child process that leads, once it says so."""
    children: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], 20)
        assert ready, "the child did not report within 20 s"
        assert child.stdout.readline().strip() == "leader"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        assert child.stdout is not None
        child.stdout.close()


def _kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)


# -- PostgreSQL -----------------------------------------------------------------------


def test_postgres_one_of_two_leads_and_the_other_takes_over_on_stop(
    pg_url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = Recorder()
    second: list[bool] = []

    async def second_changed(leader: bool) -> None:  # async callbacks are awaited
        second.append(leader)
        raise RuntimeError("callback bug")  # logged, never propagated

    async def scenario() -> float:
        a = PostgresLeadership(pg_url, first, interval=INTERVAL, key=key, identity="node-a")
        b = PostgresLeadership(pg_url, second_changed, interval=INTERVAL, key=key, identity="b")
        await a.start()
        await b.start()
        try:
            assert a.is_leader and not b.is_leader
            assert first.values == [True] and second == []
            assert a.describe()["role"] == "leader"
            assert b.describe()["role"] == "standby"
            assert b.describe()["holder"] == "node-a"
            assert b.describe()["backend"] == "postgresql"
            await asyncio.sleep(2 * INTERVAL)  # the leader keeps leading
            assert a.is_leader and not b.is_leader
            await a.stop()
            assert first.values == [True, False]
            taken = await _until(lambda: b.is_leader, TAKEOVER_BOUND)
            assert second == [True]
            assert b.describe()["holder"] == "b"
            return taken
        finally:
            await a.stop()
            await b.stop()

    taken = asyncio.run(scenario())
    print(f"postgres takeover after stop(): {taken:.2f} s")
    assert second == [True, False]
    assert "callback bug" in caplog.text


@pytest.mark.parametrize("backend", ["postgres", "file"])
def test_takes_over_from_a_killed_process(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, spawn
) -> None:
    if backend == "postgres":
        url, key = request.getfixturevalue("pg_url"), request.getfixturevalue("key")
        child = spawn("postgres", url, key)
    else:
        path = tmp_path / "scheduler.lock"
        child = spawn("file", str(path), "")
    events = Recorder()

    async def scenario() -> float:
        if backend == "postgres":
            election: Leadership = PostgresLeadership(url, events, interval=INTERVAL, key=key)
        else:
            election = FileLeadership(path, events, interval=INTERVAL)
        await election.start()
        try:
            assert not election.is_leader
            assert election.describe()["holder"] == "child"
            _kill(child)
            return await _until(lambda: election.is_leader, TAKEOVER_BOUND)
        finally:
            await election.stop()

    taken = asyncio.run(scenario())
    print(f"{backend} takeover after kill -9: {taken:.2f} s")
    assert events.values == [True, False]


def test_postgres_leader_cut_off_server_side_steps_down_before_the_other_leads(
    pg_url: str, key: str
) -> None:
    name = f"node-{secrets.token_hex(4)}"
    first, second = Recorder(), Recorder()

    async def scenario() -> None:
        a = PostgresLeadership(pg_url, first, interval=INTERVAL, key=key, identity=name)
        b = PostgresLeadership(pg_url, second, interval=INTERVAL, key=key, identity="b")
        await a.start()
        await b.start()
        try:
            assert a.is_leader and not b.is_leader
            with psycopg.connect(pg_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                ).fetchall()
            assert killed == [(True,)]
            taken = await _until(lambda: b.is_leader, TAKEOVER_BOUND)
            print(f"postgres takeover after pg_terminate_backend: {taken:.2f} s")
            assert not a.is_leader
            # a reconnects as standby and sees who leads now
            await _until(lambda: a.describe()["holder"] == "b", TAKEOVER_BOUND)
            assert not a.is_leader
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())
    assert first.values == [True, False]
    assert second.values == [True, False]
    stepped_down, took_over = first.calls[1][1], second.calls[0][1]
    assert stepped_down <= took_over  # never two leaders at once


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://feedmill:s3cret@127.0.0.1:1/test",  # nothing listens on port 1
        "postgresql+psycopg://feedmill:s3cret@127.0.0.1:1/test",
    ],
)
def test_postgres_unreachable_stays_standby_with_a_warning(
    url: str, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    events = Recorder()

    async def scenario() -> None:
        election = PostgresLeadership(url, events, interval=INTERVAL, key=key)
        await election.start()
        await asyncio.sleep(2 * INTERVAL)  # retries do not raise either
        assert not election.is_leader
        assert election.describe()["role"] == "standby"
        await election.stop()

    with caplog.at_level(logging.WARNING, logger="scheduler.leader"):
        asyncio.run(scenario())
    assert events.values == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings  # once per outage, not once per retry
    assert "feedmill:***@127.0.0.1:1/test" in warnings[0]
    assert "s3cret" not in caplog.text


# -- lock file ------------------------------------------------------------------------


def test_file_one_of_two_leads_and_the_other_takes_over_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "data" / "scheduler.lock"
    first, second = Recorder(), Recorder()

    async def scenario() -> float:
        a = FileLeadership(path, first, interval=INTERVAL, identity="node-a")
        b = FileLeadership(path, second, interval=INTERVAL, identity="node-b")
        await a.start()
        await b.start()
        try:
            assert a.is_leader and not b.is_leader
            assert path.read_text(encoding="utf-8").strip() == "node-a"
            assert b.describe() | {"since": None} == {
                "role": "standby",
                "holder": "node-a",
                "since": None,
                "backend": "file",
            }
            await asyncio.sleep(2 * INTERVAL)
            assert a.is_leader and not b.is_leader
            await a.stop()
            taken = await _until(lambda: b.is_leader, TAKEOVER_BOUND)
            assert path.read_text(encoding="utf-8").strip() == "node-b"
            return taken
        finally:
            await a.stop()
            await b.stop()

    taken = asyncio.run(scenario())
    print(f"file takeover after stop(): {taken:.2f} s")
    assert first.values == [True, False]
    assert second.values == [True, False]


def test_file_leader_steps_down_when_its_lock_file_is_replaced(tmp_path: Path) -> None:
    """Otherwise a newcomer could lock the new file and both would schedule."""
    path = tmp_path / "scheduler.lock"
    events = Recorder()

    async def scenario() -> None:
        election = FileLeadership(path, events, interval=INTERVAL)
        await election.start()
        try:
            assert election.is_leader
            path.unlink()
            await _until(lambda: events.values == [True, False], TAKEOVER_BOUND)
            await _until(lambda: election.is_leader, TAKEOVER_BOUND)  # on the new file
        finally:
            await election.stop()

    asyncio.run(scenario())
    assert events.values == [True, False, True, False]


def test_leadership_for_picks_the_store_backend(tmp_path: Path) -> None:
    def pick(url: str | None) -> Leadership:
        return leadership_for(url, tmp_path, lambda leader: None, interval=1.0)

    for url in ("postgresql://h/db", "postgres://h/db", "postgresql+psycopg://u:p@h/db"):
        chosen = pick(url)
        assert isinstance(chosen, PostgresLeadership)
        assert chosen.url.startswith(("postgresql://", "postgres://"))
        assert chosen.interval == 1.0
    for url in (None, "", "sqlite:///x.sqlite3", str(tmp_path / "feedmill.sqlite3")):
        chosen = pick(url)
        assert isinstance(chosen, FileLeadership)
        assert chosen.path == tmp_path / "scheduler.lock"
