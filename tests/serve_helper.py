"""A running `feedmill serve` for tests: a real process on a free port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from support import feedmill_command

TOKEN = "test-token-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A running ``feedmill serve`` with helpers to talk to it."""

    def __init__(self, project: Path, port: int, *extra: str, token: str | None = TOKEN) -> None:
        self.project, self.port = project, port
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
        if token:
            env["FEEDMILL_TOKEN"] = token
        self.log = project / f"serve-{port}.log"
        with self.log.open("wb") as log:  # the child keeps its own copy of the handle
            self.process = subprocess.Popen(
                [feedmill_command(), "serve", "--port", str(port), *extra],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"not ready:\n{self.log.read_text()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def post(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.base + path, data=b"", headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def sources(self) -> dict[str, dict]:
        return {s["name"]: s for s in json.loads(self.get("/api/sources")[2])}

    def wait_for(self, predicate, timeout: float = 60, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)
