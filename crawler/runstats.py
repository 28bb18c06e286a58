"""The stats keys feedmill's spiders and pipelines count under, in one place.

A run's summary (read, new, updated, unchanged, failed) is read back from these by the
run recorder, so a component that counts something new adds its key here.
"""

from __future__ import annotations

from typing import Any

DOCUMENTS_READ = "feedmill/documents_read"
DOCUMENTS_FAILED = "feedmill/documents_failed"
ARTICLES_NEW = "feedmill/articles_new"
ARTICLES_UPDATED = "feedmill/articles_updated"
ARTICLES_UNCHANGED = "feedmill/articles_unchanged"
ARTICLES_DROPPED = "feedmill/articles_dropped"
ARTICLES_NOT_STORED = "feedmill/articles_not_stored"
ERROR = "feedmill/error"


def run_counts(stats: dict[str, Any]) -> dict[str, int]:
    """The run's counts in the store's vocabulary (fetched, new, updated, unchanged, failed)."""

    def get(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    return {
        "fetched": get(DOCUMENTS_READ),
        "new": get(ARTICLES_NEW),
        "updated": get(ARTICLES_UPDATED),
        "unchanged": get(ARTICLES_UNCHANGED),
        "failed": get(DOCUMENTS_FAILED) + get(ARTICLES_DROPPED) + get(ARTICLES_NOT_STORED),
    }
