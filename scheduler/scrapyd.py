"""An async client of Scrapyd's JSON API, so that the scheduler can send runs to worker nodes.

Scrapyd (1.6) runs ``scrapy crawl`` processes for projects it knows, either uploaded as eggs
or named in the ``[settings]`` section of its configuration (feedmill's worker nodes use the
latter: see deploy/scrapyd.conf). This module only speaks the API; which run goes where and
what to do with a lost job is the scheduler's business.

Failures are split in two, because the scheduler reacts differently to them:

- ``NodeDown``: the node did not answer (refused, reset, timed out, answered something that
  is not Scrapyd JSON). Retrying elsewhere is right; the node is put in back-off.
- ``ScrapydError``: the node answered and refused (an unknown spider or project, wrong
  credentials). Retrying the same request elsewhere would most likely fail the same way.

Every message names the node by its URL, which never holds the password (credentials live
in ``Node.username`` / ``Node.password`` and go out as an ``Authorization`` header only).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from feeds.errors import FeedmillError

logger = logging.getLogger(__name__)

# listjobs.json lists every pending job and the last ``finished_to_keep`` finished ones:
# megabytes on a busy node, but a node (or something posing as one) must not make the
# scheduler buffer without bound.
MAX_BODY = 4 * 1024 * 1024

# schedule.json reads these itself; a spider argument of the same name would be taken as
# the parameter (or break the request), so they are refused up front.
RESERVED_ARGS = frozenset({"project", "spider", "jobid", "_job", "_version", "priority", "setting"})

JOB_STATES = ("pending", "running", "finished")


class ScrapydError(FeedmillError):
    """A node refused or failed a request.

    str() names the node URL (never with the password) and the reason.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"Scrapyd node {self.url}: {self.reason}"


class NodeDown(ScrapydError):
    """The node did not answer (connection refused/reset, timeout, non-JSON)."""


class NoNodeAvailable(ScrapydError):
    """No configured node answered (or all are in back-off)."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        # url -> why that node cannot take a run; kept for the scheduler's log and status.
        self.reasons = dict(reasons)
        summary = "; ".join(f"{url}: {why}" for url, why in self.reasons.items())
        super().__init__(", ".join(self.reasons), summary or "no nodes configured")

    def __str__(self) -> str:
        return f"no Scrapyd node available ({self.reason})"


def _redact(url: str) -> str:
    """``url`` without any user:password part, for messages built from text a user typed."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


@dataclass(frozen=True)
class Node:
    """A Scrapyd worker node: where it is, how to log in, how many crawls it runs at once."""

    url: str  # base URL without credentials, no trailing slash, e.g. "http://127.0.0.1:6800"
    username: str = ""
    password: str = ""
    slots: int = 0  # the node's max_proc if known (0 = unknown)

    def __post_init__(self) -> None:
        # A URL with credentials in it would end up in logs and the runs table.
        if "@" in urlsplit(self.url).netloc:
            raise ValueError(
                f"Scrapyd node URL {_redact(self.url)!r} holds credentials: "
                "use Node.parse() or the username/password fields"
            )
        if self.slots < 0:
            raise ValueError(f"Scrapyd node {self.url}: slots must be 0 (unknown) or more")

    @classmethod
    def parse(cls, text: str, slots: int = 0) -> Node:
        """``"http://user:pass@host:6800/"`` -> Node; ValueError naming the problem otherwise.

        Credentials move out of the URL (percent-escapes decoded, so a password may hold
        ``@`` or ``:`` written as ``%40`` / ``%3A``); a path prefix is kept (a node behind a
        reverse proxy at ``/scrapyd/``), the trailing slash is not.
        """
        shown = _redact(text.strip())
        try:
            parts = urlsplit(text.strip())
            _ = parts.port  # ValueError for a port that is not a number in range
        except ValueError as exc:
            raise ValueError(f"Scrapyd node URL {shown!r} is not a valid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(
                f"Scrapyd node URL {shown!r}: scheme must be http or https "
                f"(got {parts.scheme or 'none'!r}), e.g. http://host:6800"
            )
        if not parts.hostname:
            raise ValueError(f"Scrapyd node URL {shown!r} has no host")
        if parts.query or parts.fragment:
            raise ValueError(f"Scrapyd node URL {shown!r}: no query or fragment expected")
        host = parts.netloc.rpartition("@")[2]  # keeps IPv6 brackets and the port as written
        url = f"{scheme}://{host}{parts.path.rstrip('/')}"
        username = unquote(parts.username or "")
        password = unquote(parts.password or "")
        if ":" in username:
            raise ValueError(f"Scrapyd node URL {shown!r}: a username cannot contain ':'")
        return cls(url=url, username=username, password=password, slots=slots)

    @property
    def label(self) -> str:
        """The URL, for logs and the runs table (never the password)."""
        return self.url

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header value, or None when the node has no credentials.

        Built here rather than with ``aiohttp.BasicAuth`` (deprecated from aiohttp 3.14,
        and latin-1 by default where Scrapyd compares UTF-8 bytes).
        """
        if not (self.username or self.password):
            return None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:
        # The dataclass repr would print the password into any log line or traceback.
        secret = ", password='***'" if self.password else ""
        return f"Node(url={self.url!r}, username={self.username!r}{secret}, slots={self.slots})"


@dataclass(frozen=True)
class NodeStatus:
    """One daemonstatus.json answer: the node's jobs, over all of its projects."""

    node: Node
    running: int
    pending: int
    finished: int

    @property
    def free(self) -> int:
        """Slots left (may be negative: jobs queue); without a known size, minus the load."""
        if self.node.slots > 0:
            return self.node.slots - self.running - self.pending
        return -(self.running + self.pending)


class ScrapydClient:
    """Talks to a set of Scrapyd nodes for one project; remembers which ones are down.

    One ``aiohttp.ClientSession`` (connection pooling) is created on first use, inside the
    running loop, and closed by ``close()`` / ``async with``; so a client belongs to the
    event loop that first used it.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        project: str = "feedmill",
        *,
        timeout: float = 5.0,
        backoff: float = 30.0,
    ) -> None:
        if not nodes:
            raise ValueError("ScrapydClient needs at least one node")
        if len({node.url for node in nodes}) != len(nodes):
            raise ValueError("ScrapydClient: the same node URL is configured twice")
        self.nodes: tuple[Node, ...] = tuple(nodes)
        self.project = project
        self.timeout = timeout
        self.backoff = backoff
        self._session: aiohttp.ClientSession | None = None
        # node -> (monotonic time the back-off ends, why the node was put there)
        self._down: dict[Node, tuple[float, str]] = {}

    # -- back-off ------------------------------------------------------------------------

    def mark_down(self, node: Node, reason: str) -> None:
        """Put a node in back-off: ``pick`` skips it for ``backoff`` seconds.

        The scheduler calls it too (a node that lost a job), so a flapping node is not
        handed new runs straight away.
        """
        self._down[node] = (time.monotonic() + self.backoff, reason)
        logger.warning(
            "Scrapyd node %s is down (%s); not picked for %.0f s", node.label, reason, self.backoff
        )

    def is_down(self, node: Node) -> bool:
        """True while the node is in back-off."""
        entry = self._down.get(node)
        if entry is None:
            return False
        if time.monotonic() >= entry[0]:
            del self._down[node]
            return False
        return True

    # -- API calls -----------------------------------------------------------------------

    async def status(self, node: Node) -> NodeStatus:
        """GET daemonstatus.json: the node's running, pending and finished job counts."""
        data = await self._request(node, "GET", "daemonstatus.json")
        try:
            return NodeStatus(
                node=node,
                running=int(data["running"]),
                pending=int(data["pending"]),
                finished=int(data["finished"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ScrapydError(
                node.label, f"daemonstatus.json answer without job counts: {_snippet(data)}"
            ) from None

    async def pick(self) -> Node:
        """The node with the most free slots, asking every node not in back-off at once.

        Ties go to the node with the fewest running + pending jobs, then to the first in
        the configuration. A node that fails is logged and put in back-off, so one dead
        node costs one timeout per ``backoff`` seconds, not one per run.
        """
        reasons: dict[str, str] = {}
        candidates: list[tuple[int, Node]] = []
        for index, node in enumerate(self.nodes):
            if self.is_down(node):
                until, why = self._down[node]
                reasons[node.label] = f"in back-off for {until - time.monotonic():.0f} s ({why})"
            else:
                candidates.append((index, node))
        answers = await asyncio.gather(
            *(self.status(node) for _, node in candidates), return_exceptions=True
        )
        best: tuple[tuple[int, int, int], Node] | None = None
        for (index, node), answer in zip(candidates, answers, strict=True):
            if isinstance(answer, ScrapydError):
                reasons[node.label] = answer.reason
                self.mark_down(node, answer.reason)
                continue
            if isinstance(answer, BaseException):
                raise answer  # a bug or a cancellation, not a node problem
            key = (answer.free, -(answer.running + answer.pending), -index)
            if best is None or key > best[0]:
                best = (key, node)
        if best is None:
            raise NoNodeAvailable({node.label: reasons[node.label] for node in self.nodes})
        return best[1]

    async def schedule(
        self,
        node: Node,
        spider: str,
        *,
        settings: Mapping[str, str] = {},  # read only, so a shared default is safe
        args: Mapping[str, str] = {},
        job_id: str | None = None,
    ) -> str:
        """POST schedule.json; returns the job id (``job_id`` if given, else the node's).

        ``settings`` become ``-s K=V`` of the crawl, ``args`` spider arguments (``-a``).
        Scrapyd 1.6 takes a chosen job id as ``jobid`` (a ``_job`` form field would clash
        with its own and fail the request).
        """
        form: list[tuple[str, str]] = [("project", self.project), ("spider", spider)]
        for key, value in settings.items():
            if not key or "=" in key:
                raise ValueError(f"Scrapy setting name {key!r} is empty or holds '='")
            form.append(("setting", f"{key}={value}"))
        for key, value in args.items():
            if key in RESERVED_ARGS:
                raise ValueError(f"spider argument {key!r} is a schedule.json parameter name")
            form.append((key, str(value)))
        if job_id is not None:
            form.append(("jobid", job_id))
        data = await self._request(node, "POST", "schedule.json", data=form)
        jobid = data.get("jobid")
        if not isinstance(jobid, str) or not jobid:
            raise ScrapydError(
                node.label, f"schedule.json answer without a job id: {_snippet(data)}"
            )
        return jobid

    async def jobs(self, node: Node) -> dict[str, str]:
        """GET listjobs.json for the project: job id -> "pending" | "running" | "finished".

        Scrapyd keeps finished jobs in memory (``finished_to_keep``, 100 by default) and
        forgets them on a restart: a job missing here is not necessarily a lost one.
        """
        data = await self._request(node, "GET", "listjobs.json", params={"project": self.project})
        states: dict[str, str] = {}
        for state in JOB_STATES:  # later states win, should a job be listed twice
            entries = data.get(state, [])
            if not isinstance(entries, list):
                raise ScrapydError(node.label, f"listjobs.json: {state!r} is not a list")
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    states[entry["id"]] = state
        return states

    async def spiders(self, node: Node) -> list[str]:
        """GET listspiders.json: the project's spiders on that node (a check that the node
        has the project and feedmill.toml it should; runs ``scrapy list`` there once)."""
        data = await self._request(
            node, "GET", "listspiders.json", params={"project": self.project}
        )
        names = data.get("spiders")
        if not isinstance(names, list):
            raise ScrapydError(node.label, f"listspiders.json without a list: {_snippet(data)}")
        return [str(name) for name in names]

    async def cancel(self, node: Node, job_id: str) -> str:
        """POST cancel.json; returns the job's state before ("" if the node did not know it).

        A pending job is dropped from the queue; a running one gets SIGINT, Scrapy's
        graceful stop, and is listed as finished once its process has ended.
        """
        data = await self._request(
            node, "POST", "cancel.json", data=[("project", self.project), ("job", job_id)]
        )
        prevstate = data.get("prevstate")
        return prevstate if isinstance(prevstate, str) else ""

    async def log_tail(self, node: Node, spider: str, job_id: str, max_bytes: int = 65536) -> str:
        """The last ``max_bytes`` of a job's log as the node serves it ("" if it cannot).

        Scrapyd serves ``logs/<project>/<spider>/<job>.log``; a range request keeps a
        long crawl's log from crossing the network whole just for its last lines. The
        size is asked first: Twisted answers a suffix range longer than the file
        (``bytes=-N``) with a 500.
        """
        session = self._get_session()
        url = f"{node.url}/logs/{self.project}/{spider}/{job_id}.log"
        headers = {"Authorization": node.authorization} if node.authorization else {}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with session.head(url, headers=headers, timeout=timeout) as response:
                if response.status != 200:
                    return ""
                size = response.content_length or 0
            ranged = {**headers, "Range": f"bytes={max(0, size - max_bytes)}-"}
            async with session.get(url, headers=ranged, timeout=timeout) as response:
                if response.status not in (200, 206):
                    return ""
                body = await response.content.read(max_bytes + 1)
        except (TimeoutError, aiohttp.ClientError, OSError):
            return ""
        return bytes(body[-max_bytes:]).decode("utf-8", "replace")

    # -- plumbing ------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> ScrapydClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        # Created here, not in __init__: a session belongs to the loop it was made in, and
        # the client may be built before the loop runs.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _request(
        self,
        node: Node,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        data: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """One API call: the decoded JSON object, or ScrapydError / NodeDown."""
        session = self._get_session()
        url = f"{node.url}/{endpoint}"
        authorization = node.authorization
        headers = {"Authorization": authorization} if authorization else None
        try:
            async with session.request(
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                status = response.status
                kind = response.content_type
                if status == 401:
                    why = "credentials refused" if authorization else "credentials needed, none set"
                    raise ScrapydError(node.label, f"{why} (HTTP 401 from {endpoint})")
                if response.content_length and response.content_length > MAX_BODY:
                    raise ScrapydError(node.label, f"{endpoint}: answer larger than 4 MiB")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_BODY:
                        raise ScrapydError(node.label, f"{endpoint}: answer larger than 4 MiB")
        except TimeoutError:
            raise NodeDown(
                node.label, f"no answer to {endpoint} within {self.timeout:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NodeDown(node.label, f"{endpoint} failed: {_describe(exc)}") from None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise NodeDown(
                node.label,
                f"{endpoint} answered HTTP {status} {kind}, not Scrapyd JSON: {_snippet(body)}",
            )
        if answer.get("status") == "error":
            message = str(answer.get("message", "")).strip() or "no message"
            if len(message) > 1000:  # a runner traceback: its end says what went wrong
                message = "…" + message[-1000:]
            raise ScrapydError(node.label, f"{endpoint}: {message}")
        if status != 200:
            raise NodeDown(node.label, f"{endpoint} answered HTTP {status}: {_snippet(answer)}")
        logger.debug("Scrapyd node %s: %s %s ok", node.label, method, endpoint)
        return answer


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _snippet(value: object, limit: int = 200) -> str:
    """A short, printable excerpt of an unexpected answer for an error message."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[:limit]).decode("utf-8", "replace")
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")
