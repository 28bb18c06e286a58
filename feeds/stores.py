"""Choosing the store back-end from a database URL or a path.

``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain path open the
embedded SQLite store; ``postgresql://…`` (or ``postgres://…``, ``postgresql+psycopg://…``)
opens the PostgreSQL store. psycopg is imported only when a PostgreSQL URL is given, so
the SQLite default needs nothing beyond the standard library.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from feeds.config import DATABASE_URL_ENV, Config
from feeds.errors import StoreError
from feeds.store import STORE_FILE, SQLiteStore

if TYPE_CHECKING:
    from feeds.pgstore import PostgresStore

# Both back-ends have the same methods and behaviour (tests/test_store_backends.py runs
# one suite over both); callers name this type and never a back-end.
Store: TypeAlias = "SQLiteStore | PostgresStore"

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_postgres_url(url_or_path: str | Path) -> bool:
    return isinstance(url_or_path, str) and url_or_path.strip().startswith(POSTGRES_PREFIXES)


def database_url(config: Config, data_dir: Path, explicit: str | None = None) -> str:
    """Where the articles live: ``explicit``, else ``$FEEDMILL_DATABASE_URL``, else the
    config's ``database_url``, else the embedded SQLite file in ``data_dir``."""
    chosen = explicit or os.environ.get(DATABASE_URL_ENV, "").strip() or config.database_url
    return chosen or f"{SQLITE_PREFIX}{Path(data_dir).absolute() / STORE_FILE}"


def open_database(config: Config, data_dir: Path) -> Store:
    """The store a command or the service works on (see :func:`database_url`)."""
    return open_store(database_url(config, data_dir))


def redacted(url_or_path: str | Path) -> str:
    """A database URL without its password, for messages and logs."""
    return _redacted(str(url_or_path))


def schema_versions(url_or_path: str | Path) -> tuple[int, int]:
    """(the stored schema version, the one this feedmill writes), without upgrading."""
    target = str(url_or_path).strip()
    if is_postgres_url(target):
        from feeds import pgstore

        return pgstore.stored_version(_psycopg_url(target)), pgstore.SCHEMA_VERSION
    from feeds.store import SCHEMA_VERSION

    path = target[len(SQLITE_PREFIX) :] if target.startswith(SQLITE_PREFIX) else target
    if not Path(path).exists():
        return 0, SCHEMA_VERSION
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0]), SCHEMA_VERSION
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read the schema version: {exc}") from exc


def _psycopg_url(target: str) -> str:
    if target.startswith("postgresql+psycopg://"):
        return "postgresql://" + target[len("postgresql+psycopg://") :]
    return target


def open_store(url_or_path: str | Path, **options: Any) -> Store:
    """Open the store ``url_or_path`` names; ``options`` go to the PostgreSQL store
    (``schema``, ``connect_timeout``)."""
    if isinstance(url_or_path, Path):
        return SQLiteStore(url_or_path)
    target = url_or_path.strip()
    if target.startswith(SQLITE_PREFIX):
        path = target[len(SQLITE_PREFIX) :]
        if not path:
            raise StoreError(f"{target}: a sqlite URL needs a file path (sqlite:///path)")
        return SQLiteStore(path)
    if target.startswith(POSTGRES_PREFIXES):
        from feeds.pgstore import PostgresStore

        return PostgresStore(_psycopg_url(target), **options)
    scheme, sep, _ = target.partition("://")
    if sep and scheme.isidentifier():
        raise StoreError(
            f"{_redacted(target)}: unknown database URL scheme {scheme!r} "
            "(use sqlite:///path or postgresql://…)"
        )
    return SQLiteStore(target)


def _redacted(url: str) -> str:
    from re import sub

    return sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)
