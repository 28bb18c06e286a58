"""The scaled-out deployment, for real on 127.0.0.1: two ``feedmill serve`` processes on
one PostgreSQL database (one schedules, one stands by), two Scrapyd nodes running the
crawls, and a local news site with many small sources.

One module-wide cluster; the tests run in order and build on each other: 30 sources
over both nodes, then a node killed mid-run, then the leading scheduler killed.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pg_support import Postgres
from scrapyd_support import ScrapydNode, start_nodes

from feeds.stores import open_store

from serve_helper import TOKEN, Service, free_port
from site_server import SiteServer
from support import run_feedmill

SOURCES = [f"s{n:02d}" for n in range(30)]
GATED = [f"g{n}" for n in range(4)]  # article pages wait for the gate: runs stay in flight
TIMED = ["t0", "t1"]  # scheduled in the last test
EVERY = 4  # seconds between scheduled runs of TIMED

SOURCE = """
[sources.{name}]
kind = "web"
start_urls = ["{base}/{name}/index.html"]
article_links = "ul a"
max_pages = 1
language = "en"
{schedule}
"""


class GatedSite(SiteServer):
    """The site, with the article pages of the GATED sources held until ``gate`` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()

    def respond(self, handler) -> int:  # type: ignore[no-untyped-def]
        if handler.path.startswith("/g") and "/a" in handler.path:
            self.gate.wait(60)
        return super().respond(handler)


def build_site(root: Path) -> None:
    root.mkdir()
    (root / "robots.txt").write_text("User-agent: *\nDisallow:\n", encoding="utf-8")
    text = "<p>" + "The council met on Tuesday to discuss the new bus lanes. " * 5 + "</p>"
    for name in [*SOURCES, *GATED, *TIMED]:
        folder = root / name
        folder.mkdir()
        links = "".join(f'<li><a href="/{name}/a{j}.html">Story {j}</a></li>' for j in range(3))
        (folder / "index.html").write_text(
            f"<html><body><ul>{links}</ul></body></html>", encoding="utf-8"
        )
        for j in range(3):
            (folder / f"a{j}.html").write_text(
                f'<html><head><meta property="article:published_time" '
                f'content="2026-10-{j + 1:02d}T08:00:00Z"></head><body><article>'
                f"<h1>Story {j} of {name}</h1>{text * 3}</article></body></html>",
                encoding="utf-8",
            )


def write_config(
    project: Path, base: str, database: str, nodes: list[ScrapydNode], *, timed: bool
) -> None:
    urls = ", ".join(
        json.dumps(f"http://{n.username}:{n.password}@127.0.0.1:{n.port}") for n in nodes
    )
    text = (
        "[service]\n"
        f'data_dir = "data"\ndatabase_url = {json.dumps(database)}\n'
        f'runner = "scrapyd"\nscrapyd_nodes = [{urls}]\nscrapyd_slots = 4\n'
    )
    for name in [*SOURCES, *GATED, *TIMED]:
        schedule = f'every = "{EVERY}s"' if timed and name in TIMED else ""
        text += SOURCE.format(name=name, base=base, schedule=schedule)
    path = project / "feedmill.toml"
    partial = path.with_suffix(".tmp")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


@dataclass
class Cluster:
    database: str
    site: GatedSite
    nodes: list[ScrapydNode]
    projects: list[Path]
    services: list[Service]

    def runs(self) -> list:
        with open_store(self.database) as store:
            return store.runs(None, 1000)

    def wait_runs(self, predicate, timeout: float, what: str) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            if predicate(runs):
                return runs
            time.sleep(0.5)
        raise AssertionError(f"{what}: not within {timeout}s; runs: {self.runs()[:40]}")

    def leader(self) -> Service:
        for service in self.services:
            if service.process.poll() is None and role(service) == "leader":
                return service
        raise AssertionError("no leader")


def role(service: Service) -> str:
    status, _, body = service.get("/healthz")
    assert status == 200
    return json.loads(body)["scheduler"]["leadership"]["role"]


@pytest.fixture(scope="module")
def cluster(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    database = postgres.database_url(postgres.new_schema())
    build_site(root / "site")
    projects = [root / "a", root / "b"]
    for project in projects:
        project.mkdir()
    with GatedSite(root / "site") as site:
        try:
            env = {"FEEDMILL_CONFIG": str(projects[0] / "feedmill.toml")}
            with start_nodes(2, root, max_proc=4, env=env) as nodes:
                for project in projects:
                    write_config(project, site.base, database, nodes, timed=False)
                services = [Service(project, free_port()) for project in projects]
                try:
                    for service in services:
                        service.wait_ready()
                    yield Cluster(database, site, nodes, projects, services)
                finally:
                    for service in services:
                        if service.process.poll() is None:
                            service.process.send_signal(signal.SIGTERM)
                    for service in services:
                        service.process.wait(timeout=60)
        finally:
            site.gate.set()


def test_thirty_sources_spread_over_both_nodes(cluster: Cluster) -> None:
    leader = cluster.leader()
    standby = next(s for s in cluster.services if s is not leader)
    assert role(standby) == "standby"
    # The standby does not start runs: it names the leader instead.
    status, body = standby.post(f"/api/sources/{SOURCES[0]}/run", TOKEN)
    assert status == 503 and b"standby" in body, body
    page = standby.get("/")[2].decode()
    assert "This node is the standby scheduler: runs are started by" in page
    assert 'action="/sources/' not in page  # no "run now" buttons there
    assert 'action="/sources/' in leader.get("/")[2].decode()
    for name in SOURCES:
        status, body = leader.post(f"/api/sources/{name}/run", TOKEN)
        assert status == 202, body
    runs = cluster.wait_runs(
        lambda runs: sum(r.outcome != "running" for r in runs) >= len(SOURCES), 240, "30 runs"
    )
    assert [r.outcome for r in runs] == ["ok"] * len(SOURCES), [(r.source, r.error) for r in runs]
    assert {r.node for r in runs} == {n.url for n in cluster.nodes}
    split = {n.url: sum(r.node == n.url for r in runs) for n in cluster.nodes}
    print(f"30 runs over the nodes: {sorted(split.values())}")
    assert all(r.job.startswith(f"feedmill-{r.id}-") for r in runs)
    assert all(r.new == 3 for r in runs)
    listed = run_feedmill(cluster.projects[0], "runs", "--limit", "5")
    assert listed.returncode == 0 and "node" in listed.stdout.splitlines()[0], listed.stderr
    assert any(node.url in listed.stdout for node in cluster.nodes)
    with open_store(cluster.database) as store:
        counts = store.counts()
    assert counts == dict.fromkeys(SOURCES, 3)  # every article stored once
    # Both servers render every feed from the database, byte for byte the same once
    # each has caught up with the last runs (they poll the database on their own clock:
    # one may still serve the "all" feed it rendered a moment before the last run).
    for name in (SOURCES[0], SOURCES[-1], "all"):

        def same(n: str = name) -> bool:
            bodies = [service.get(f"/feeds/{n}.rss")[2] for service in cluster.services]
            return bodies[0] == bodies[1] and bodies[0].count(b"<item>") >= 3

        cluster.services[0].wait_for(same, 30, f"{name}.rss the same on both nodes")


def test_a_killed_node_loses_its_runs_and_they_run_again_elsewhere(cluster: Cluster) -> None:
    leader = cluster.leader()
    for name in GATED:
        assert leader.post(f"/api/sources/{name}/run", TOKEN)[0] == 202
    placed = cluster.wait_runs(
        lambda runs: sum(r.source in GATED and r.node != "" for r in runs) == len(GATED),
        30,
        "the gated runs placed",
    )
    on = {r.source: r.node for r in placed if r.source in GATED}
    victim = next(n for n in cluster.nodes if n.url in on.values())
    survivor = next(n for n in cluster.nodes if n is not victim)
    lost_sources = {s for s, node in on.items() if node == victim.url}
    time.sleep(2)  # the crawls are under way, waiting for their article pages
    victim.kill()
    cluster.site.gate.set()
    runs = cluster.wait_runs(
        lambda runs: all(any(r.source == s and r.outcome == "ok" for r in runs) for s in GATED),
        90,
        "the gated sources done",
    )
    gated = [r for r in runs if r.source in GATED]
    lost = [r for r in gated if r.outcome == "lost"]
    assert {r.source for r in lost} == lost_sources
    print(f"node killed: {len(lost)} run(s) lost, redone on the other node")
    assert all(victim.url in r.error for r in lost), [r.error for r in lost]
    redone = [r for r in gated if r.trigger == "retry"]
    assert {r.source for r in redone} == lost_sources
    assert all(r.node == survivor.url and r.outcome == "ok" for r in redone)
    with open_store(cluster.database) as store:
        counts = store.counts()
    assert all(counts[name] == 3 for name in GATED), counts  # once each, though run twice


def test_killing_the_leader_hands_the_schedule_to_the_standby(cluster: Cluster) -> None:
    old = cluster.leader()
    standby = next(s for s in cluster.services if s is not old)
    live = [n for n in cluster.nodes if n.alive]
    for project in cluster.projects:  # schedule TIMED every few seconds (a config reload)
        write_config(project, cluster.site.base, cluster.database, live, timed=True)
    cluster.wait_runs(
        lambda runs: all(sum(r.source == s for r in runs) >= 2 for s in TIMED),
        60,
        "two scheduled runs of each timed source",
    )
    old.process.send_signal(signal.SIGKILL)
    old.process.wait(timeout=10)
    killed = time.monotonic()
    standby.wait_for(lambda: role(standby) == "leader", 30, "the standby to lead")
    took_over = time.monotonic() - killed
    print(f"the standby led {took_over:.1f}s after the leader was killed")
    assert took_over < 30
    before = {s: sum(r.source == s for r in cluster.runs()) for s in TIMED}
    cluster.wait_runs(
        lambda runs: all(sum(r.source == s for r in runs) >= before[s] + 2 for s in TIMED),
        60,
        "two more scheduled runs of each after the take-over",
    )
    runs = cluster.wait_runs(
        lambda runs: not any(r.outcome == "running" and r.source in TIMED for r in runs),
        60,
        "the timed runs settled",
    )
    for name in TIMED:
        mine = sorted((r for r in runs if r.source == name), key=lambda r: r.started)
        assert all(r.outcome == "ok" for r in mine), [(r.outcome, r.error) for r in mine]
        # Never two at once, never doubled: each run starts after the previous ended ...
        for earlier, later in itertools.pairwise(mine):
            assert earlier.finished is not None and later.started >= earlier.finished
        # ... and none was lost: no gap longer than the period plus the take-over.
        gaps = [b.started - a.finished for a, b in itertools.pairwise(mine)]
        assert max(gaps) < timedelta(seconds=EVERY + took_over + 10), gaps
