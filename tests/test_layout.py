"""The layout the design asks for, and imports that point one way."""

from __future__ import annotations

import ast
import subprocess
import sys

from support import ROOT


def imported_modules(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_top_level_layout() -> None:
    for name in (
        "seeds",
        "crawler",
        "feeds",
        "scheduler",
        "tests",
        "scrapy.cfg",
        "pyproject.toml",
        "README.md",
        ".ci/run",
        "feedmill.toml",
    ):
        assert (ROOT / name).exists(), name
    for name in ("settings.py", "items.py", "pipelines.py", "spiders"):
        assert (ROOT / "crawler" / name).exists(), name
    assert sorted(p.name for p in (ROOT / "seeds").iterdir()) == ["000_50086ce4ead14abc.txt"]


def test_feeds_imports_neither_crawler_nor_scrapy() -> None:
    # feeds.cli's `serve` imports scheduler.app (the wiring) lazily; nothing imports crawler.
    assert not {"crawler", "scrapy"} & imported_modules("feeds")


def test_feeds_cli_starts_without_loading_scrapy() -> None:
    code = (
        "import sys, feeds.cli; print(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('scrapy', 'crawler', 'twisted')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_scheduler_imports_no_spider() -> None:
    assert "crawler" not in imported_modules("scheduler")
