"""Shared fixtures: a copy of the seed documents and the shipped config in a temp folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_support import Postgres, session_schema

from site_server import SiteServer
from support import FIXTURES, ROOT, SEED_NAME


@pytest.fixture
def seed_text() -> str:
    return (FIXTURES / "seeds" / SEED_NAME).read_text(encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder laid out like the repo: feedmill.toml and a seeds/ folder with the seed."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(FIXTURES / "seeds" / SEED_NAME, seeds / SEED_NAME)
    shutil.copy(ROOT / "feedmill.toml", tmp_path / "feedmill.toml")
    return tmp_path


@pytest.fixture
def site(tmp_path: Path):
    """The fixture news site, served on 127.0.0.1 from a copy (tests may edit it)."""
    root = tmp_path / "site"
    shutil.copytree(FIXTURES / "site", root)
    with SiteServer(root) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's own schema in the test PostgreSQL database (dropped at the end)."""
    yield from session_schema()
