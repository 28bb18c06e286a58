"""Batched runs: sources due together share one crawler process, crawled in turn.

Starting Python with Scrapy costs about half a second of CPU, so the run manager puts
runs asked for within ``batch_window`` of each other into one ``python -m crawler.run``
child. Each run keeps its own record, counts, outcome, timeout and log part; these tests
run the real crawler on copies of the seed documents and on the local test site.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import feedparser

from feeds.config import load_config
from feeds.runprotocol import MARKER, NOT_REACHED, TIMEOUTS_ENV
from feeds.store import SQLiteStore
from scheduler import RunManager

from site_server import SiteServer
from support import ROOT

SOURCES = ("alpha", "beta", "gamma")


def project_with(tmp_path: Path, extra: str = "") -> Path:
    """The repo's config and seeds, plus files sources alpha/beta/gamma (a seed each)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "seeds", project / "seeds")
    text = (ROOT / "feedmill.toml").read_text(encoding="utf-8")
    for name in SOURCES:
        shutil.copytree(ROOT / "seeds", project / name)
        text += f'\n[sources.{name}]\nkind = "files"\npath = "{name}"\nlanguage = "zh"\n'
    (project / "feedmill.toml").write_text(text + extra, encoding="utf-8")
    return project


def runs_by_source(data_dir: Path, ids: list[int]) -> dict[str, object]:
    with SQLiteStore.in_data_dir(data_dir) as store:
        runs = [store.get_run(run_id) for run_id in ids]
    return {run.source: run for run in runs if run is not None}


def test_runs_due_together_share_one_child_and_keep_their_own_records(
    tmp_path: Path,
) -> None:
    project = project_with(tmp_path)
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")

    async def scenario() -> tuple[list[int], int]:
        manager = RunManager(config, data_dir, batch_window=1.0, batch_size=10)
        ids = await asyncio.gather(*(manager.start(name, "schedule") for name in SOURCES))
        outcomes = await asyncio.gather(*(manager.wait(run_id) for run_id in ids))
        assert outcomes == ["ok", "ok", "ok"]
        await manager.shutdown()
        return list(ids), manager.children_started

    ids, children = asyncio.run(scenario())
    assert children == 1
    runs = runs_by_source(data_dir, ids)
    assert set(runs) == set(SOURCES)
    for name, run in runs.items():
        assert (run.trigger, run.outcome) == ("schedule", "ok")  # type: ignore[attr-defined]
        assert (run.fetched, run.new, run.failed) == (1, 1, 0)  # type: ignore[attr-defined]
        # Each run's log tail is its own part of the batch's log.
        tail = run.log_tail  # type: ignore[attr-defined]
        assert f"of source {name!r}" in tail
        assert not any(f"of source {other!r}" in tail for other in SOURCES if other != name)
        assert (data_dir / "feeds" / f"{name}.rss").exists()
    assert len(list((data_dir / "logs" / "batches").glob("*.log"))) == 1
    # The combined feed is written once, at the end of the batch, with all three.
    combined = feedparser.parse((data_dir / "feeds" / "all.atom").read_bytes())
    assert not combined.bozo
    assert len(combined.entries) == 3


def test_batch_size_and_worker_limit_are_kept(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")

    async def scenario() -> tuple[list[int], int, int]:
        manager = RunManager(config, data_dir, batch_window=0.5, batch_size=2, max_children=1)
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                most = max(most, manager.children())
                await asyncio.sleep(0.05)

        watcher = asyncio.ensure_future(watch())
        ids = await asyncio.gather(*(manager.start(name, "schedule") for name in SOURCES))
        outcomes = await asyncio.gather(*(manager.wait(run_id) for run_id in ids))
        watcher.cancel()
        assert outcomes == ["ok", "ok", "ok"]
        await manager.shutdown()
        return list(ids), manager.children_started, most

    ids, children, most = asyncio.run(scenario())
    assert children == 2  # two sources, then the third
    assert most == 1  # never two children at once
    runs = runs_by_source(data_dir, ids)
    assert {run.outcome for run in runs.values()} == {"ok"}  # type: ignore[attr-defined]
    # Two sources shared a batch's log; every run has a log of its own as well.
    assert len(list((data_dir / "logs" / "batches").glob("*.log"))) == 1
    for name, run in runs.items():
        assert (data_dir / "logs" / name / f"{run.id}.log").exists()  # type: ignore[attr-defined]


def test_a_run_someone_asked_for_does_not_wait_for_the_batch_window(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    data_dir = tmp_path / "data"
    config = load_config(project / "feedmill.toml")

    async def scenario() -> float:
        manager = RunManager(config, data_dir, batch_window=60.0, batch_size=10)
        began = time.monotonic()
        run_id = await manager.start("alpha", "api")
        spawned = time.monotonic() - began
        assert await manager.wait(run_id) == "ok"
        await manager.shutdown()
        return spawned

    assert asyncio.run(scenario()) < 30


def test_web_sources_of_a_batch_crawl_side_by_side_each_with_its_timeout(
    tmp_path: Path,
) -> None:
    with SiteServer(ROOT / "tests" / "fixtures" / "site") as site:
        extra = "".join(
            f'\n[sources.{name}]\nkind = "web"\nstart_urls = ["{site.url("/slow.html")}"]\n'
            'article_links = "a"\n'
            for name in ("slow", "slower")
        )
        project = project_with(tmp_path, extra)
        data_dir = tmp_path / "data"
        config = load_config(project / "feedmill.toml")

        async def scenario() -> tuple[dict[str, str], dict[str, int]]:
            manager = RunManager(
                config,
                data_dir,
                batch_window=1.0,
                batch_size=10,
                timeout_for=lambda source: 3.0 if source.startswith("slow") else 120.0,
            )
            names = ("slow", "alpha", "slower")
            ids = await asyncio.gather(*(manager.start(n, "schedule") for n in names))
            outcomes = await asyncio.gather(*(manager.wait(run_id) for run_id in ids))
            await manager.shutdown()
            assert manager.children_started == 1
            return dict(zip(names, outcomes, strict=True)), dict(zip(names, ids, strict=True))

        outcomes, ids = asyncio.run(scenario())
    # The slow sources were closed at their own timeout; the files source still ran.
    assert outcomes == {"slow": "timeout", "alpha": "ok", "slower": "timeout"}
    # The two web crawls ran side by side: the second began before the first ended.
    [batch_log] = (data_dir / "logs" / "batches").glob("*.log")
    text = batch_log.read_text(encoding="utf-8")
    second_began = text.index(MARKER.format(source="slower"))
    first_ended = text.index(f"run {ids['slow']} of source 'slow': timeout")
    assert second_began < first_ended
    # Each run's log tail holds its own records only.
    with SQLiteStore.in_data_dir(data_dir) as store:
        slow_tail = store.get_run(ids["slow"]).log_tail  # type: ignore[union-attr]
    assert f"run {ids['slow']} of source 'slow'" in slow_tail
    assert "of source 'slower'" not in slow_tail


def test_sigterm_stops_the_crawl_under_way_and_cancels_the_sources_not_reached(
    tmp_path: Path,
) -> None:
    with SiteServer(ROOT / "tests" / "fixtures" / "site") as site:
        extra = (
            f'\n[sources.slow]\nkind = "web"\nstart_urls = ["{site.url("/slow.html")}"]\n'
            'article_links = "a"\n'
        )
        project = project_with(tmp_path, extra)
        data_dir = tmp_path / "data"
        with SQLiteStore.in_data_dir(data_dir) as store:
            ids = {name: store.start_run(name, trigger="schedule") for name in ("slow", "alpha")}
        log_path = tmp_path / "batch.log"
        env = dict(
            os.environ,
            FEEDMILL_CONFIG=str(project / "feedmill.toml"),
            FEEDMILL_DATA_DIR=str(data_dir),
        )
        env[TIMEOUTS_ENV] = json.dumps({"slow": 60, "alpha": 60})
        command = [sys.executable, "-m", "crawler.run", "-s", f"FEEDMILL_RUN_IDS={json.dumps(ids)}"]
        with open(log_path, "wb") as log:
            child = subprocess.Popen(
                [*command, "-s", "LOG_LEVEL=INFO", "slow", "alpha"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
            )
        try:
            deadline = time.monotonic() + 60
            started = f"run {ids['slow']} of source 'slow' started"
            while started not in log_path.read_text(encoding="utf-8", errors="replace"):
                assert child.poll() is None, log_path.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "the slow crawl never began"
                time.sleep(0.1)
            time.sleep(1.0)  # the slow page is being waited for now (it takes 10 s)
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=60) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    text = log_path.read_text(encoding="utf-8")
    assert MARKER.format(source="slow") in text
    assert MARKER.format(source="alpha") not in text
    runs = runs_by_source(data_dir, list(ids.values()))
    assert runs["slow"].outcome == "cancelled"  # type: ignore[attr-defined]
    assert runs["alpha"].outcome == "cancelled"  # type: ignore[attr-defined]
    assert runs["alpha"].error == NOT_REACHED  # type: ignore[attr-defined]


def test_service_batching_settings_come_from_feedmill_toml(tmp_path: Path) -> None:
    project = project_with(tmp_path)
    path = project / "feedmill.toml"
    text = path.read_text(encoding="utf-8")
    assert "[service]" in text
    text = text.replace("[service]", '[service]\nbatch_window = "5s"\nbatch_size = 7\nworkers = 3')
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    manager = RunManager.for_service(config, tmp_path / "data", grace=1.0)
    assert (manager.batch_window, manager.batch_size, manager.max_children) == (5.0, 7, 3)
    plain = RunManager(config, tmp_path / "data")
    assert (plain.batch_window, plain.batch_size, plain.max_children) == (0.0, 1, None)
