"""Run history retention.

A service left running for months records a run of every source every few minutes: at
1,000 sources on a 15-minute schedule that is 96,000 rows a day, each with its log tail,
and as many log files under ``logs/``. Without a bound the database and the data
directory grow for ever, and the dashboard's queries slow down with them. The newest
``keep_runs`` finished runs of each source stay (``feedmill runs`` and the dashboard show
them), with their log files; older ones go. Scrapyd keeps its own job logs on its nodes
(its ``jobs_to_keep``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from feeds.stores import Store

__all__ = ["prune_history"]

logger = logging.getLogger(__name__)


def prune_history(store: Store, data_dir: Path, keep: int) -> int:
    """Forget every source's finished runs beyond its newest ``keep``, with their log
    files; how many runs were forgotten."""
    forgotten = store.prune_runs(keep)
    logs = Path(data_dir) / "logs"
    for run_id, source in forgotten:
        # A source name from the database becomes a folder name: only plain names (the
        # config allows no others) so a crafted row cannot point outside logs/.
        if Path(source).name != source or source in (".", ".."):
            continue
        # logs/<source>/<id>.log, and logs/batches/<id>.log for a batch it opened
        for path in (logs / source / f"{run_id}.log", logs / "batches" / f"{run_id}.log"):
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("cannot remove %s: %s", path, exc)
    if forgotten:
        logger.info(
            "run history: forgot %d run(s) beyond the newest %d of each source",
            len(forgotten),
            keep,
        )
    return len(forgotten)
