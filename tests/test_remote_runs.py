"""The Scrapyd run manager against a real Scrapyd node, with a stand-in project.

The node runs a tiny project whose ``_source`` spider does what its ``source`` argument
says (sleep past the timeout, crash), so the manager's own paths are what is tested:
the timeout that ends in ``cancel.json``, a job that dies without recording its run, a
second run of a busy source, and no node answering. The store is a SQLite file: the
manager records runs the same way on either back-end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from scrapyd_support import ScrapydNode

from feeds.config import load_config
from feeds.errors import SourceBusy
from feeds.store import SQLiteStore
from scheduler.remote import ScrapydRunManager
from scheduler.runs import RunError

SPIDER = """
import asyncio
import dataclasses

import scrapy


class Dispatch(scrapy.Spider):
    name = "_source"

    async def start(self):
        if self.source == "crasher":
            raise RuntimeError("the crawl fell over")
        await asyncio.sleep(60)  # SIGINT from cancel.json ends it at once
        return
        yield
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScrapydNode]:
    folder = tmp_path_factory.mktemp("standin")
    package = folder / "standin"
    (package / "spiders").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "settings.py").write_text(
        'BOT_NAME = "standin"\nSPIDER_MODULES = ["standin.spiders"]\n'
        "TELNETCONSOLE_ENABLED = False\n",
        encoding="utf-8",
    )
    (package / "spiders" / "__init__.py").write_text(SPIDER, encoding="utf-8")
    with ScrapydNode(
        folder / "node", projects={"standin": "standin.settings"}, pythonpath=[folder]
    ) as started:
        yield started


def manager_for(tmp_path: Path, node: ScrapydNode, **kw: object) -> ScrapydRunManager:
    url = f"http://{node.username}:{node.password}@127.0.0.1:{node.port}"
    (tmp_path / "feedmill.toml").write_text(
        textwrap.dedent(f"""\
            [service]
            runner = "scrapyd"
            scrapyd_nodes = ["{url}"]
            scrapyd_project = "standin"
            [sources.sleeper]
            kind = "web"
            start_urls = ["http://127.0.0.1:9/"]
            article_links = "a"
            [sources.crasher]
            kind = "web"
            start_urls = ["http://127.0.0.1:9/"]
            article_links = "a"
            """),
        encoding="utf-8",
    )
    config = load_config(tmp_path / "feedmill.toml")
    return ScrapydRunManager(
        config,
        tmp_path,
        database=str(tmp_path / "feedmill.sqlite3"),
        poll=0.2,
        lost_after=2.0,
        timeout_for=2.0,
        grace=2.0,
        **kw,  # type: ignore[arg-type]
    )


def test_a_run_past_its_timeout_is_cancelled_on_the_node(tmp_path: Path, node: ScrapydNode) -> None:
    async def scenario() -> tuple[int, str]:
        manager = manager_for(tmp_path, node)
        run_id = await manager.start("sleeper", "api")
        with pytest.raises(SourceBusy, match=r"run .* on http://127\.0\.0\.1"):
            await manager.start("sleeper", "api")  # never two at once
        where = manager.where("sleeper")
        assert where is not None and where[0] == node.url
        assert where[1].startswith(f"feedmill-{run_id}-")
        outcome = await asyncio.wait_for(manager.wait(run_id), 30)
        await manager.shutdown()
        return run_id, outcome

    run_id, outcome = asyncio.run(scenario())
    assert outcome == "timeout"
    with SQLiteStore(tmp_path / "feedmill.sqlite3") as store:
        run = store.get_run(run_id)
    assert run is not None and run.outcome == "timeout"
    assert run.node == node.url and run.job.startswith(f"feedmill-{run_id}-")
    assert "timed out after 2s" in run.error and "cancelled" in run.error
    job = node.get("listjobs.json?project=standin")
    assert any(entry["id"] == run.job for entry in job["finished"])


def test_a_job_that_dies_without_recording_its_run_is_failed_with_its_log(
    tmp_path: Path, node: ScrapydNode
) -> None:
    async def scenario() -> tuple[int, str]:
        manager = manager_for(tmp_path, node)
        run_id = await manager.start("crasher", "schedule")
        outcome = await asyncio.wait_for(manager.wait(run_id), 30)
        await manager.shutdown()
        return run_id, outcome

    run_id, outcome = asyncio.run(scenario())
    assert outcome == "failed"
    with SQLiteStore(tmp_path / "feedmill.sqlite3") as store:
        run = store.get_run(run_id)
    assert run is not None
    assert f"job {run.job} on {node.url} ended before the run did" in run.error
    assert "the crawl fell over" in run.log_tail  # the job's log, fetched from the node


def test_no_node_answering_fails_the_run_with_each_reason(tmp_path: Path) -> None:
    stopped = ScrapydNode(tmp_path / "gone")
    stopped.port = 9  # nothing listens there

    async def scenario() -> None:
        manager = manager_for(tmp_path, stopped)
        with pytest.raises(RunError, match=r"no Scrapyd node took the run: .*127\.0\.0\.1:9"):
            await manager.start("sleeper", "api")
        assert manager.running() == {}
        await manager.shutdown()

    asyncio.run(scenario())
    with SQLiteStore(tmp_path / "feedmill.sqlite3") as store:
        (run,) = store.runs("sleeper")
    assert run.outcome == "failed" and "127.0.0.1:9" in run.error


def test_jobs_get_the_database_url_without_its_password(tmp_path: Path) -> None:
    from scheduler.remote import without_password

    url = "postgresql://feedmill:s%40cret@db.example:5432/feeds?options=-csearch_path%3Dfm"
    assert without_password(url) == (
        "postgresql://feedmill@db.example:5432/feeds?options=-csearch_path%3Dfm"
    )
    assert without_password("postgresql://postgres@127.0.0.1/test").endswith("@127.0.0.1/test")
    nowhere = ScrapydNode(tmp_path / "unused")
    manager = manager_for(tmp_path, nowhere)
    manager.database = url
    assert "s%40cret" not in manager.job_database_url()
    manager.config = dataclasses.replace(manager.config, scrapyd_send_password=True)
    assert manager.job_database_url() == url
