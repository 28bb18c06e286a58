"""Runs of sources as Scrapyd jobs on worker nodes, followed to their end.

The ``scrapyd`` runner: instead of a child process, each run is a ``schedule.json`` job
on the node with the most free slots. The run is recorded in the shared (PostgreSQL)
store *before* it is sent, with its job id (``feedmill-<run id>-<random>``), so a
scheduler that dies between the two steps leaves a run its successor can find on the
nodes. The job gets the run id, the database URL and the source's timeout as Scrapy
settings; the crawl there records its own end and counts, exactly as a local child does.

One poller follows every job through ``listjobs.json`` (one request per node per poll,
however many jobs): a job past its source's timeout is cancelled (``cancel.json``); a
finished job whose run is still "running" crashed and is recorded failed with the last
lines of its log; a node that does not answer for ``lost_after`` seconds is put in
back-off and its runs are recorded ``lost`` and sent again to another node (upserts are
idempotent, so a run redone after a partial one stores each article once).

A stopping scheduler leaves jobs running: they belong to the cluster, and the next
leader adopts them (:meth:`ScrapydRunManager.adopt`) from the runs table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from feeds.config import Config, scrapyd_nodes
from feeds.errors import FeedmillError, SourceBusy, UnknownSource
from feeds.store import RUN_COUNTS, Run
from feeds.stores import open_store
from scheduler.runs import (
    DEFAULT_GRACE,
    DEFAULT_TIMEOUT,
    NextRun,
    RunBook,
    RunError,
    ShuttingDown,
    TimeoutFor,
)
from scheduler.scrapyd import Node, NodeDown, NoNodeAvailable, ScrapydClient, ScrapydError

logger = logging.getLogger(__name__)

# The spider Scrapyd nodes run (crawler.loader.DISPATCH_SPIDER); the source is its
# argument. A constant here: the scheduler package never imports the crawler.
DISPATCH_SPIDER = "_source"
RETRY_TRIGGER = "retry"  # a run sent again after its node was lost
_DISPATCH_ATTEMPTS = 3  # nodes tried for one run before it fails


def job_id_for(run_id: int) -> str:
    """A new Scrapyd job id for run ``run_id``. It is recorded on the run before the job
    is sent, so a new leader can find a job whose node was never recorded; the random
    part keeps it unique on nodes shared with other installations (or an earlier
    database), whose finished jobs Scrapyd still lists."""
    return f"feedmill-{run_id}-{secrets.token_hex(4)}"


def without_password(url: str) -> str:
    """``url`` with the password of its user part removed (``user:pw@`` -> ``user@``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def nodes_from_config(config: Config) -> list[Node]:
    """The configured nodes (``$FEEDMILL_SCRAPYD_NODES`` wins), each with its slots."""
    return [Node.parse(url, slots=config.scrapyd_slots) for url in scrapyd_nodes(config)]


@dataclass(eq=False)
class _Job:
    source: str
    trigger: str
    run_id: int
    timeout: float
    started: float = field(default_factory=time.time)  # wall clock: adopted runs too
    node: Node | None = None
    job_id: str = ""
    cancelled_at: float | None = None
    stop_reason: str | None = None  # "timeout" or "cancelled" once this side stopped it
    seen: bool = False  # listed by its node at least once
    done: asyncio.Future[str] | None = None


class ScrapydRunManager(RunBook):
    """Starts runs as Scrapyd jobs and sees them to their end (RunManager's interface).

    ``poll`` is the seconds between ``listjobs.json`` rounds; ``lost_after`` how long a
    node may fail to answer before its runs are declared lost and sent elsewhere.
    """

    def __init__(
        self,
        config: Config,
        data_dir: Path,
        *,
        database: str | Path,
        client: ScrapydClient | None = None,
        poll: float = 1.0,
        lost_after: float = 10.0,
        grace: float = DEFAULT_GRACE,
        default_timeout: float = DEFAULT_TIMEOUT,
        timeout_for: TimeoutFor | float | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir).absolute()
        self.database = database
        self.client = client or ScrapydClient(
            nodes_from_config(config), config.scrapyd_project, backoff=lost_after * 3
        )
        self.poll = poll
        self.lost_after = lost_after
        self.grace = grace
        self.default_timeout = default_timeout
        self._timeout_for = timeout_for
        self._runs: dict[str, _Job] = {}  # source -> its run under way
        self._by_id: dict[int, _Job] = {}
        self._finished: OrderedDict[int, str] = OrderedDict()
        self._last_answer: dict[Node, float] = {}
        self._poller: asyncio.Task[None] | None = None
        self._closing = False
        self.children_started = 0  # jobs sent
        self.lost = 0  # runs recorded lost (their nodes died)
        open_store(self.database).close()

    # -- configuration -----------------------------------------------------------------

    def update_config(self, config: Config) -> None:
        """Use ``config`` for runs started from now on (nodes are read at start-up)."""
        self.config = config

    def job_database_url(self) -> str:
        """The database URL a job gets: without its password unless the config says
        ``scrapyd_send_password = true``. Scrapyd logs every job's arguments and the
        crawl's command line shows in the node's process list; libpq on the node finds
        the password in PGPASSWORD or ~/.pgpass instead."""
        url = str(self.database)
        if self.config.scrapyd_send_password:
            return url
        return without_password(url)

    # -- runs --------------------------------------------------------------------------

    async def start(self, source: str, trigger: str, *, next_run: NextRun | None = None) -> int:
        """Record a run of ``source`` and send it to a node; returns the run id.

        UnknownSource, SourceBusy (a run of it is under way, here or adopted), RunError
        (no node took it: recorded failed with the nodes' reasons), ShuttingDown.
        """
        self._check_startable(source)
        current = self._runs.get(source)
        if current is not None:
            where = f" on {current.node.label}" if current.node else ""
            raise SourceBusy(
                f"source {source!r} is busy: run {current.run_id} ({current.trigger}){where} "
                f"started {time.time() - current.started:.0f}s ago is still under way"
            )
        placeholder = _Job(source, trigger, -1, self.timeout_for(source))
        self._runs[source] = placeholder  # reserved before the first await
        try:
            run_id = await asyncio.to_thread(self._start_run, source, trigger, next_run)
        except BaseException:
            self._runs.pop(source, None)
            raise
        job = placeholder
        job.run_id = run_id
        self._track(job)
        await self._send(job)  # RunError when no node took it (recorded failed)
        return run_id

    def running(self) -> dict[str, int]:
        return {s: j.run_id for s, j in self._runs.items() if j.run_id >= 0}

    def child_pid(self, source: str) -> int | None:
        return None  # the crawl runs on another machine

    def children(self) -> int:
        """Jobs under way on the nodes."""
        return sum(1 for job in self._runs.values() if job.job_id)

    def where(self, source: str) -> tuple[str, str] | None:
        """(node URL, job id) of ``source``'s run under way."""
        job = self._runs.get(source)
        if job is None or job.node is None:
            return None
        return job.node.label, job.job_id

    async def adopt(self) -> int:
        """Follow the runs a previous leader left under way; returns how many.

        Runs with a node are followed there; a run recorded but never given a node is
        looked for on every node by its job id, and recorded lost and sent again when
        no node has it (the leader died between recording and sending it).
        """
        rows = await asyncio.to_thread(self._runs_under_way)
        by_label = {node.label: node for node in self.client.nodes}
        adopted = 0
        orphans: list[Run] = []
        for row in rows:
            if row.source in self._runs or row.source not in self.config.sources:
                continue
            if row.trigger in ("cli", "scrapy", "reextract"):
                continue  # started by hand on some machine: not the scheduler's
            job = _Job(row.source, row.trigger, row.id, self.timeout_for(row.source))
            job.started = row.started.timestamp()
            job.job_id = row.job
            job.node = by_label.get(row.node) if row.node else None
            if not row.job:  # recorded, but the leader died before it chose a job id
                await self._lose(job, "the scheduler stopped before sending it", track=True)
                continue
            if row.node and job.node is None:
                await self._lose(job, f"its node {row.node} is no longer configured", track=True)
                continue
            self._runs[row.source] = job
            self._track(job)
            if job.node is None:
                orphans.append(row)
            adopted += 1
        if orphans:
            await self._find_orphans([self._by_id[row.id] for row in orphans])
        if adopted:
            logger.info("following %d run(s) a previous scheduler left under way", adopted)
            self._ensure_poller()
        return adopted

    async def release(self) -> None:
        """This process stopped leading: stop following jobs without touching them or
        their records (the new leader adopts them; two followers could both decide a
        run was lost and send it twice)."""
        await self._stop_following()

    async def shutdown(self, grace: float | None = None) -> None:
        """Stop following jobs. They go on running on their nodes; the next leader
        adopts them from the runs table."""
        self._closing = True
        await self._stop_following()
        await self.client.close()

    async def _stop_following(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
            self._poller = None
        for job in list(self._runs.values()):
            if job.done is not None and not job.done.done():
                job.done.cancel()
        self._runs.clear()
        self._by_id.clear()

    # -- sending -----------------------------------------------------------------------

    def _track(self, job: _Job) -> None:
        self._by_id[job.run_id] = job
        if job.done is None:
            job.done = asyncio.get_running_loop().create_future()
            job.done.add_done_callback(_consume)

    async def _send(self, job: _Job) -> None:
        """Pick a node, schedule the job, record where it went; RunError if none took it."""
        job.job_id = job_id_for(job.run_id)
        await asyncio.to_thread(self._set_job, job.run_id, "", job.job_id)
        settings = {
            "FEEDMILL_RUN_IDS": json.dumps({job.source: job.run_id}),
            "FEEDMILL_DATABASE_URL": self.job_database_url(),
            "FEEDMILL_CONFIG": str(Path(self.config.path).absolute()),
            "FEED_BUILDER_ENABLED": "0",  # the feed servers render from the database
            "CLOSESPIDER_TIMEOUT": f"{job.timeout:g}",
            "LOG_LEVEL": "INFO",
        }
        reasons: list[str] = []
        for _ in range(_DISPATCH_ATTEMPTS):
            try:
                node = await self.client.pick()
                await self.client.schedule(
                    node,
                    DISPATCH_SPIDER,
                    settings=settings,
                    args={"source": job.source},
                    job_id=job.job_id,
                )
            except NodeDown as exc:
                self.client.mark_down(self._node(exc.url), exc.reason)
                reasons.append(str(exc))
                continue
            except NoNodeAvailable as exc:
                reasons.append(str(exc))
                break
            except ScrapydError as exc:
                reasons.append(str(exc))
                break
            job.node = node
            self._last_answer[node] = time.monotonic()
            job.started = time.time()
            self.children_started += 1
            try:
                await asyncio.to_thread(self._set_job, job.run_id, node.label, job.job_id)
            except FeedmillError as exc:
                logger.error("run %d: cannot record its node: %s", job.run_id, exc)
            logger.info(
                "run %d of source %r sent to %s as job %s (%s, timeout %gs)",
                job.run_id,
                job.source,
                node.label,
                job.job_id,
                job.trigger,
                job.timeout,
            )
            self._ensure_poller()
            return
        error = "no Scrapyd node took the run: " + "; ".join(reasons)
        logger.error("run %d of source %r: %s", job.run_id, job.source, error)
        await self._finish(job, "failed", error)
        raise RunError(f"source {job.source!r}: {error}")

    def _node(self, label: str) -> Node:
        for node in self.client.nodes:
            if node.label == label:
                return node
        raise KeyError(label)

    # -- following ---------------------------------------------------------------------

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.ensure_future(self._poll_forever())

    async def _poll_forever(self) -> None:
        while not self._closing:
            jobs = [job for job in self._runs.values() if job.node is not None]
            if not jobs and not any(j.run_id >= 0 for j in self._runs.values()):
                self._poller = None
                return
            try:
                await self._poll_once(jobs)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("following Scrapyd jobs failed; trying again")
            await asyncio.sleep(self.poll)

    async def _poll_once(self, jobs: Sequence[_Job]) -> None:
        by_node: dict[Node, list[_Job]] = {}
        for job in jobs:
            assert job.node is not None
            by_node.setdefault(job.node, []).append(job)
        answers = await asyncio.gather(
            *(self.client.jobs(node) for node in by_node), return_exceptions=True
        )
        now = time.monotonic()
        for (node, node_jobs), answer in zip(by_node.items(), answers, strict=True):
            if isinstance(answer, ScrapydError):
                silent = now - self._last_answer.get(node, now)
                self._last_answer.setdefault(node, now)
                if silent >= self.lost_after:
                    self.client.mark_down(node, answer.reason)
                    for job in node_jobs:
                        await self._lose(
                            job, f"its node {node.label} stopped answering: {answer.reason}"
                        )
                continue
            if isinstance(answer, BaseException):
                raise answer
            self._last_answer[node] = now
            for job in node_jobs:
                await self._follow(job, answer.get(job.job_id))

    async def _follow(self, job: _Job, state: str | None) -> None:
        assert job.node is not None
        if state in ("pending", "running"):
            job.seen = True
            overdue = time.time() - job.started - job.timeout
            if overdue > 0 and job.cancelled_at is None:
                logger.warning(
                    "run %d of source %r timed out after %gs: cancelling job %s on %s",
                    job.run_id,
                    job.source,
                    job.timeout,
                    job.job_id,
                    job.node.label,
                )
                job.stop_reason = "timeout"
                job.cancelled_at = time.monotonic()
                with contextlib.suppress(ScrapydError):
                    await self.client.cancel(job.node, job.job_id)
            elif job.cancelled_at is not None and time.monotonic() - job.cancelled_at > self.grace:
                job.cancelled_at = time.monotonic()  # Scrapyd's second cancel kills it
                with contextlib.suppress(ScrapydError):
                    await self.client.cancel(job.node, job.job_id)
            return
        if state == "finished":
            await self._close(job)
            return
        # Not listed: just sent (not yet seen) is fine for a moment; a job the node has
        # forgotten (it restarted, or dropped it) is lost.
        if job.seen or time.time() - job.started > self.lost_after:
            await self._lose(job, f"its node {job.node.label} no longer knows job {job.job_id}")

    async def _close(self, job: _Job) -> None:
        """The job ended: settle the run's record (the crawl normally did) and its log."""
        assert job.node is not None
        tail = await self.client.log_tail(job.node, DISPATCH_SPIDER, job.job_id)
        tail = "\n".join(tail.splitlines()[-50:])
        row = await asyncio.to_thread(self._get_run, job.run_id)
        outcome = row.outcome if row else "failed"
        if (
            row is None
            or row.outcome == "running"
            or (job.stop_reason == "timeout" and row.outcome == "cancelled")
        ):
            outcome = job.stop_reason or "failed"
            if job.stop_reason == "timeout":
                error = f"timed out after {job.timeout:g}s; job {job.job_id} cancelled"
            else:
                error = f"the Scrapyd job {job.job_id} on {job.node.label} ended before the run did"
            counts = {name: getattr(row, name) for name in RUN_COUNTS} if row else {}
            await asyncio.to_thread(self._finish_run, job.run_id, outcome, counts, error, tail)
        else:
            await asyncio.to_thread(self._set_log_tail, job.run_id, tail)
        logger.info(
            "run %d of source %r ended on %s: %s", job.run_id, job.source, job.node.label, outcome
        )
        self._end(job, outcome)

    async def _lose(self, job: _Job, why: str, *, track: bool = False) -> None:
        """Record the run lost and send the source again (to a node that answers)."""
        logger.warning(
            "run %d of source %r is lost: %s; running it again", job.run_id, job.source, why
        )
        if track:
            self._track(job)
        self.lost += 1
        await self._finish(job, "lost", why)
        if self._closing:
            return
        try:
            await self.start(job.source, RETRY_TRIGGER)
        except (RunError, SourceBusy, UnknownSource, ShuttingDown) as exc:
            logger.error("source %r: the lost run was not sent again: %s", job.source, exc)

    async def _find_orphans(self, jobs: list[_Job]) -> None:
        """Runs recorded without a node: find their job ids on the nodes, else lose them."""
        listed: dict[str, Node] = {}
        for node in self.client.nodes:
            try:
                for job_id in await self.client.jobs(node):
                    listed[job_id] = node
            except ScrapydError as exc:
                logger.warning("Scrapyd node %s: cannot list its jobs: %s", node.label, exc)
        for job in jobs:
            node = listed.get(job.job_id)
            if node is None:
                await self._lose(job, "the scheduler stopped before sending it to a node")
                continue
            job.node = node
            await asyncio.to_thread(self._set_job, job.run_id, node.label, job.job_id)

    async def _finish(self, job: _Job, outcome: str, error: str) -> None:
        try:
            await asyncio.to_thread(self._finish_run, job.run_id, outcome, {}, error, "")
        except FeedmillError:
            logger.exception("run %d: cannot record its end", job.run_id)
        self._end(job, outcome)

    # -- store access (worker threads) -------------------------------------------------

    def _runs_under_way(self) -> list[Run]:
        with self._store() as store:
            return store.runs_under_way()

    def _set_job(self, run_id: int, node: str, job_id: str) -> None:
        with self._store() as store:
            store.set_run_job(run_id, node, job_id)

    def _set_log_tail(self, run_id: int, tail: str) -> None:
        with self._store() as store:
            store.set_log_tail(run_id, tail)

    def _finish_run(
        self, run_id: int, outcome: str, counts: dict[str, int], error: str, tail: str
    ) -> None:
        with self._store() as store:
            store.finish_run(run_id, outcome, counts, error=error, log_tail=tail)


def _consume(future: asyncio.Future[str]) -> None:
    if not future.cancelled():
        future.exception()
