"""The test PostgreSQL server: find it, and give each test session a schema of its own.

The server is the machine's one on 127.0.0.1:5432, database ``test`` (user ``postgres``,
else the current user; ``$FEEDMILL_TEST_DATABASE_URL`` overrides). When no server
answers, tests that need it fail under CI (``$CI`` set) and are skipped elsewhere.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql


def _candidate_urls() -> list[str]:
    if os.environ.get("FEEDMILL_TEST_DATABASE_URL"):
        return [os.environ["FEEDMILL_TEST_DATABASE_URL"]]
    users = dict.fromkeys(["postgres", getpass.getuser()])
    return [f"postgresql://{user}@127.0.0.1:5432/test" for user in users]


def reachable_url() -> tuple[str | None, str]:
    """The first server URL that answers, else None and why each did not."""
    errors = []
    for url in _candidate_urls():
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            return url, ""
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip()}")
    return None, "; ".join(errors)


def require_url() -> str:
    """The server URL, or fail (under CI) / skip (elsewhere) the calling test."""
    url, why = reachable_url()
    if url is None:
        message = f"PostgreSQL is not reachable ({why})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@dataclass(frozen=True)
class Postgres:
    url: str
    schema: str

    def connect(self, schema: str | None = None) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema or self.schema)))
        return conn

    def database_url(self, schema: str | None = None) -> str:
        """A ``FEEDMILL_DATABASE_URL`` that lands in ``schema`` (default: the session's)."""
        options = quote(f"-csearch_path={schema or self.schema}")
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}options={options}"

    def new_schema(self) -> str:
        """A fresh schema name under the session's (dropped with it at the end)."""
        return f"{self.schema}_{secrets.token_hex(3)}"


def session_schema() -> Iterator[Postgres]:
    """The body of the session fixture: create the schema, drop it and its kin at the end."""
    url = require_url()
    schema = f"feedmill_test_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield Postgres(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            # The session's extra schemas (migration tests, services) share its prefix.
            names = admin.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
                (schema, schema + "\\_%"),
            ).fetchall()
            for (name,) in names:
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
