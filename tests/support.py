"""Helpers for the tests: paths and running the CLI as a user does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED_NAME = "000_50086ce4ead14abc.txt"


def feedmill_command() -> str:
    """The installed console script: tests run what a user runs."""
    script = shutil.which("feedmill") or shutil.which(
        "feedmill", path=str(Path(sys.executable).parent)
    )
    assert script, "the feedmill console script is not installed (pip install -e .)"
    return script


def run_feedmill(
    project: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``feedmill`` CLI as a user would, in ``project``, with a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    return subprocess.run(
        [feedmill_command(), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
