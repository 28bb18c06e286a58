"""Real Scrapyd nodes for tests: ``python -m scrapyd`` subprocesses on 127.0.0.1.

``with ScrapydNode(tmp_path / "a") as node:`` starts one (``start_nodes(2, tmp_path)`` a
few at once, in parallel) with its own directory, a generated ``scrapyd.conf`` (free port,
``max_proc``, basic auth, fast polling) and feedmill on ``PYTHONPATH``, so that the
``feedmill`` project runs from ``crawler.settings`` without an egg.

Why there is a ``scrapy.cfg`` beside ``scrapyd.conf``: Scrapyd 1.6 knows a ``[settings]``
project from scrapyd.conf and gives crawl processes its ``SCRAPY_SETTINGS_MODULE``, but
``schedule.json`` first runs ``scrapy list`` without it, and Scrapy looks for
``[settings]`` only in scrapy.cfg files (the working directory's among them); without one
every schedule.json fails with "no active project". Scrapyd reads the scrapy.cfg of its
working directory too, so both files say the same.

A node runs in its own session (process group): its crawl processes are its children in
that group, so ``kill()`` takes them down with it, as when a real worker machine dies.
Nothing outlives the ``with`` block (or, failing that, the test process: ``atexit``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from scheduler.scrapyd import Node

ROOT = Path(__file__).resolve().parents[1]

USERNAME = "feedmill"
PASSWORD = "node-secret"

# Started nodes not stopped yet: killed at exit should a test (or the session) end badly.
_LIVE: set[ScrapydNode] = set()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScrapydNode:
    """One Scrapyd daemon in ``directory``; ``url``, ``node``, ``kill()``, ``stop()``."""

    def __init__(
        self,
        directory: Path,
        *,
        max_proc: int = 4,
        username: str = USERNAME,
        password: str = PASSWORD,
        projects: Mapping[str, str] | None = None,
        pythonpath: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
        poll_interval: float = 0.2,
        startup_timeout: float = 20.0,
    ) -> None:
        self.directory = directory
        self.max_proc = max_proc
        self.username = username
        self.password = password
        # project name -> settings module; feedmill is always there (installed / on PYTHONPATH)
        self.projects = {"feedmill": "crawler.settings", **(projects or {})}
        self.pythonpath = [Path(p) for p in pythonpath]
        self.extra_env = dict(env or {})
        self.poll_interval = poll_interval
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> ScrapydNode:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration and launch the daemon (``wait_ready()`` waits for it)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.write_config()
        self.log_path.write_bytes(b"")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "scrapyd"],
                cwd=self.directory,  # scrapyd.conf and scrapy.cfg are read from here
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, with its crawl processes
            )
        _LIVE.add(self)

    def wait_ready(self) -> None:
        """Until daemonstatus.json answers; RuntimeError with the node's log otherwise."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                log = self.log_tail()
                self.stop()
                raise RuntimeError(
                    f"scrapyd exited with {self.process.returncode} at start-up:\n{log}"
                )
            with contextlib.suppress(OSError, ValueError):
                if "running" in self.get("daemonstatus.json"):
                    return
            if time.monotonic() > deadline:
                log = self.log_tail()
                self.stop()
                raise RuntimeError(
                    f"scrapyd did not answer on {self.url} within "
                    f"{self.startup_timeout:g} s:\n{log}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the node and its crawl processes at once, as when the machine dies."""
        self._signal_group(signal.SIGKILL)
        self._reap()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (Scrapyd and crawls shut down), SIGKILL whatever is left after ``grace``."""
        if self.process is not None and self.process.returncode is None:
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.05)
        # Before reaping: the unreaped leader keeps the group id from being reused.
        self._signal_group(signal.SIGKILL)
        self._reap()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _exited(self) -> bool:
        """True once the daemon has exited, without reaping it (the group id stays ours)."""
        assert self.process is not None
        if self.process.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _signal_group(self, signo: int) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signo)

    def _reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        _LIVE.discard(self)

    # -- configuration -------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.directory / "scrapyd.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "scrapyd.log"

    def write_config(self) -> None:
        settings = "".join(f"{name} = {module}\n" for name, module in self.projects.items())
        self.config_path.write_text(
            textwrap.dedent(f"""\
                [scrapyd]
                bind_address = 127.0.0.1
                http_port = {self.port}
                max_proc = {self.max_proc}
                poll_interval = {self.poll_interval}
                username = {self.username}
                password = {self.password}
                eggs_dir = {self.directory / "eggs"}
                logs_dir = {self.directory / "logs"}
                items_dir =
                dbs_dir = {self.directory / "dbs"}
                jobs_to_keep = 5
                finished_to_keep = 100

                [settings]
                """)
            + settings,
            encoding="utf-8",
        )
        # For schedule.json's `scrapy list`, which reads [settings] from scrapy.cfg only.
        (self.directory / "scrapy.cfg").write_text("[settings]\n" + settings, encoding="utf-8")

    def environment(self) -> dict[str, str]:
        """The test's environment without what would steer Scrapy, Scrapyd or feedmill
        elsewhere, plus feedmill (and extra project folders) on PYTHONPATH and ``env``."""
        dropped = ("SCRAPY_SETTINGS_MODULE", "SCRAPY_PROJECT")
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in dropped and not key.startswith(("FEEDMILL_", "SCRAPYD_"))
        }
        paths = [str(p) for p in self.pythonpath] + [str(ROOT)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.extra_env)
        return env

    # -- access --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node(self) -> Node:
        """The client's view of this node: URL, credentials, slots = max_proc."""
        return Node(
            url=self.url, username=self.username, password=self.password, slots=self.max_proc
        )

    def get(self, endpoint: str, timeout: float = 2.0) -> dict:
        """A blocking GET of the API (for set-up and checks outside the event loop)."""
        request = urllib.request.Request(f"{self.url}/{endpoint}")
        if self.username and self.password:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def crawl_log(self, project: str, spider: str, job: str) -> str:
        """The log file Scrapyd gave a crawl ("" while there is none)."""
        path = self.directory / "logs" / project / spider / f"{job}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@contextlib.contextmanager
def start_nodes(n: int, tmp_path: Path, **kw: object) -> Iterator[list[ScrapydNode]]:
    """``n`` nodes in ``tmp_path/scrapyd-0`` … started in parallel (start-up is ~2 s each)."""
    nodes = [ScrapydNode(tmp_path / f"scrapyd-{i}", **kw) for i in range(n)]  # type: ignore[arg-type]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


SLEEPY_SPIDER = '''\
"""A spider that only waits: keeps a Scrapyd slot busy for ``seconds`` (argument)."""

import asyncio

import scrapy


class Sleepy(scrapy.Spider):
    name = "sleepy"
    seconds = "1"

    async def start(self):
        # Awaited, not time.sleep(): SIGINT from cancel.json stops the crawl at once.
        await asyncio.sleep(float(self.seconds))
        return
        yield
'''


def write_sleepy_project(folder: Path, name: str = "testproj") -> tuple[str, str]:
    """A tiny Scrapy project (no scrapy.cfg, no egg) in ``folder``: put ``folder`` on the
    node's ``pythonpath`` and ``{name: module}`` (the return value) in its ``projects``."""
    package = folder / name
    (package / "spiders").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "settings.py").write_text(
        f'BOT_NAME = "{name}"\nSPIDER_MODULES = ["{name}.spiders"]\nLOG_LEVEL = "INFO"\n'
        "TELNETCONSOLE_ENABLED = False\n",
        encoding="utf-8",
    )
    (package / "spiders" / "__init__.py").write_text(SLEEPY_SPIDER, encoding="utf-8")
    return name, f"{name}.settings"


@atexit.register
def _kill_leftovers() -> None:
    for node in list(_LIVE):
        node.kill()
