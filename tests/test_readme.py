"""The README's quick start is true: its first command runs on a clean copy of the repo,
and CI runs exactly its second one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import feedparser

from support import ROOT


def quick_start(marker: str) -> str:
    """The shell command in the fenced block right after ``<!-- quick-start:MARKER -->``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- quick-start:{marker} -->\s*```sh\n(.+?)\n```", readme, re.S)
    assert match, f"README has no quick-start:{marker} block"
    return match.group(1).strip()


def clean_copy(target: Path) -> Path:
    """The repository as a fresh clone would have it: tracked and unignored files only."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_ci_runs_exactly_the_readme_test_command() -> None:
    command = quick_start("test")
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [
        line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert lines[-1] == command
    assert "pytest" in command


def test_readme_run_command_works_on_a_clean_copy(tmp_path: Path) -> None:
    """Command 1, verbatim, in a fresh virtualenv on a clean copy of the repository.

    The venv sees this environment's packages (so nothing is downloaded) and pip is told
    through its environment to stay offline and build in place; the command is the
    README's own text.
    """
    command = quick_start("run")
    repo = clean_copy(tmp_path / "repo")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FEEDMILL_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(env_dir),
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_ROOT_USER_ACTION="ignore",
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (env_dir / "bin" / "feedmill").exists()
    summary = result.stdout[result.stdout.index("source  kind") :].splitlines()
    assert summary[1].split()[:8] == ["seeds", "files", "ok", "1", "1", "0", "0", "0"]
    for name in ("seeds", "all"):
        for ext in ("rss", "atom", "json"):
            path = repo / "var" / "feeds" / f"{name}.{ext}"
            assert str(path) in result.stdout
            assert path.stat().st_size > 0
    parsed = feedparser.parse((repo / "var" / "feeds" / "seeds.atom").read_bytes())
    assert not parsed.bozo
    assert parsed.entries[0].title == "2022年全国12355青少年服务台工作推进会召开"
    assert (repo / "var" / "feedmill.sqlite3").exists()


def test_readme_documents_every_cli_command() -> None:
    import argparse

    from feeds.cli import _parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = _parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) >= {"crawl", "build", "list", "check"}
    for command in subparsers.choices:
        assert f"feedmill {command}" in readme, command
