"""Choosing the store back-end from a database URL or a path.

``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a plain path open the
embedded SQLite store; ``postgresql://…`` (or ``postgres://…``, ``postgresql+psycopg://…``)
opens the PostgreSQL store. psycopg is imported only when a PostgreSQL URL is given, so
the SQLite default needs nothing beyond the standard library.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from feeds.errors import StoreError
from feeds.store import SQLiteStore

if TYPE_CHECKING:
    from feeds.pgstore import PostgresStore

    Store = SQLiteStore | PostgresStore

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://", "postgresql+psycopg://")


def is_postgres_url(url_or_path: str | Path) -> bool:
    return isinstance(url_or_path, str) and url_or_path.startswith(POSTGRES_PREFIXES)


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

        if target.startswith("postgresql+psycopg://"):
            target = "postgresql://" + target[len("postgresql+psycopg://") :]
        return PostgresStore(target, **options)
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
