"""The ``feedmill`` command: crawl sources, build feeds, list sources and runs, check config.

Crawls run in a child process (``python -m crawler.run``), so this module never imports
Scrapy or the crawler package: the CLI records the runs' start, waits, then reads their
outcome from the store and writes the feeds once for the whole batch.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from feeds import __version__
from feeds.build import FeedFile, build_feeds, feeds_dir, notify_hub
from feeds.config import COMBINED_FEED, Config, load_config, resolve_data_dir
from feeds.errors import FeedmillError
from feeds.history import prune_history
from feeds.store import Run
from feeds.stores import Store, database_url, open_database, open_store, redacted, schema_versions

logger = logging.getLogger("feedmill")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATEFORMAT = "%Y-%m-%d %H:%M:%S"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``feedmill`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    verbosity = getattr(args, "verbose", 0) - getattr(args, "quiet", 0)
    level = logging.DEBUG if verbosity > 0 else logging.WARNING if verbosity < 0 else logging.INFO
    logging.basicConfig(
        stream=sys.stderr, level=level, format=LOG_FORMAT, datefmt=LOG_DATEFORMAT, force=True
    )
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except FeedmillError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE if isinstance(exc, _UsageError) else EXIT_FAILED
    except KeyboardInterrupt:
        logger.error("interrupted")
        return 130


class _UsageError(FeedmillError):
    """The command line names something that does not exist."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="config file (default: $FEEDMILL_CONFIG, else ./feedmill.toml)",
    )
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="store and feed files (default: $FEEDMILL_DATA_DIR, else the config's, else ./var)",
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output"
    )
    common.add_argument(
        "-q", "--quiet", action="count", default=argparse.SUPPRESS, help="less log output"
    )
    parser = argparse.ArgumentParser(
        prog="feedmill",
        description="Turn documents, news sites and thin feeds into RSS, Atom and JSON feeds.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"feedmill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    crawl = sub.add_parser(
        "crawl", parents=[common], help="run sources now, store their articles, write feeds"
    )
    crawl.add_argument("sources", nargs="*", metavar="SOURCE", help="default: every source")
    crawl.set_defaults(handler=cmd_crawl)

    reextract = sub.add_parser(
        "reextract",
        parents=[common],
        help="re-run extraction on the kept pages of web/feed sources, without fetching",
    )
    reextract.add_argument("sources", nargs="+", metavar="SOURCE")
    reextract.set_defaults(handler=cmd_reextract)

    build = sub.add_parser("build", parents=[common], help="rewrite feed files from the store")
    build.add_argument(
        "feeds", nargs="*", metavar="FEED", help=f"source names or {COMBINED_FEED!r}"
    )
    build.set_defaults(handler=cmd_build)

    listing = sub.add_parser("list", parents=[common], help="sources with their last run")
    listing.set_defaults(handler=cmd_list)

    runs = sub.add_parser("runs", parents=[common], help="run history, newest first")
    runs.add_argument("source", nargs="?", metavar="SOURCE")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=cmd_runs)

    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="run the service: schedules, feed server, run-now API and dashboard",
    )
    serve.add_argument("--host", help="address to bind (default: the config's, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: the config's, else 8080)")
    serve.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long running crawls may take to finish (default 30)",
    )
    serve.set_defaults(handler=cmd_serve)

    db = sub.add_parser("db", parents=[common], help="the article database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser(
        "upgrade",
        parents=[common],
        help="create or upgrade the schema in place (sqlite or $FEEDMILL_DATABASE_URL)",
    )
    upgrade.set_defaults(handler=cmd_db_upgrade)
    status = db_sub.add_parser("status", parents=[common], help="the schema version, unchanged")
    status.set_defaults(handler=cmd_db_status)

    check = sub.add_parser("check", parents=[common], help="validate the config file")
    check.set_defaults(handler=cmd_check)
    return parser


# -- commands ---------------------------------------------------------------------


def cmd_crawl(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    names = _source_names(config, args.sources)
    if not names:
        print(f"no sources in {config.path}")
        return EXIT_OK
    return _crawl(args, config, data_dir, names, trigger="cli")


def cmd_reextract(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    names = _source_names(config, args.sources)
    for name in names:
        if config.sources[name].kind == "files":
            raise _UsageError(
                f"source {name!r} reads local files: run 'feedmill crawl {name}' instead"
            )
    return _crawl(args, config, data_dir, names, trigger="reextract", spider_args=["reextract=1"])


def _crawl(
    args: argparse.Namespace,
    config: Config,
    data_dir: Path,
    names: list[str],
    *,
    trigger: str,
    spider_args: Sequence[str] = (),
) -> int:
    """Record the runs, crawl in a child, read the outcome back, write the feeds once."""
    started = time.monotonic()
    with open_database(config, data_dir) as store:
        run_ids = {name: store.start_run(name, trigger=trigger) for name in names}
    verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", 0)
    returncode = _run_crawler(config, data_dir, run_ids, verbose, quiet, spider_args)
    with open_database(config, data_dir) as store:
        runs = _close_runs(store, run_ids, returncode)
        written = build_feeds(config, store, feeds_dir(data_dir), [*names, COMBINED_FEED])
        # A crawl from cron records runs as the service does: the same bound applies.
        prune_history(store, data_dir, config.keep_runs)
    notify_hub(config, written)
    _print_runs(runs, config, with_source_kind=True)
    print(f"feeds ({time.monotonic() - started:.1f}s):")
    for feed in written:
        print(f"  {feed.path}  ({feed.entries} entries{', rewritten' if feed.changed else ''})")
    return EXIT_FAILED if any(run.outcome != "ok" for run in runs) else EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    wanted = args.feeds or None
    for name in args.feeds:
        if name not in config.feed_names():
            raise _UsageError(f"{config.path}: no source or feed named {name!r}")
    with open_database(config, data_dir) as store:
        written = build_feeds(config, store, feeds_dir(data_dir), wanted)
    _print_feeds(written)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    with open_database(config, data_dir) as store:
        counts, last = store.counts(), store.last_runs()
    rows = [("source", "kind", "schedule", "articles", "last run", "outcome", "new", "updated")]
    for name, source in config.sources.items():
        run = last.get(name)
        rows.append(
            (
                name,
                source.kind,
                source.schedule.describe() if source.schedule else "on demand",
                str(counts.get(name, 0)),
                _when(run.started) if run else "never",
                run.outcome if run else "",
                str(run.new) if run else "",
                str(run.updated) if run else "",
            )
        )
    _print_table(rows)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    if args.source:
        _source_names(config, [args.source])
    with open_database(config, data_dir) as store:
        runs = store.runs(args.source, args.limit)
    _print_runs(runs, config, with_source_kind=False, with_start=True)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    # The service lives in the scheduler package (it wires scheduler and server); imported
    # here so that the other commands do not pay for APScheduler and aiohttp.
    from scheduler.app import serve

    config, data_dir = _load(args)
    return serve(
        config,
        data_dir,
        host=args.host or config.host,
        port=args.port or config.port,
        token=os.environ.get("FEEDMILL_TOKEN") or config.token or None,
        grace=args.grace,
    )


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database to this feedmill's schema: each migration once, in order, in
    one transaction each (PostgreSQL: under a lock, so several nodes may run it at once)."""
    config, data_dir = _load(args)
    url = database_url(config, data_dir)
    before, latest = schema_versions(url)
    with open_store(url) as store:
        after = store.schema_version
    if before == after:
        print(f"{redacted(url)}: schema version {after}, already current")
    else:
        print(f"{redacted(url)}: schema upgraded from version {before} to {after}")
    return EXIT_OK if after == latest else EXIT_FAILED


def cmd_db_status(args: argparse.Namespace) -> int:
    config, data_dir = _load(args)
    url = database_url(config, data_dir)
    stored, latest = schema_versions(url)
    state = "current" if stored == latest else f"needs 'feedmill db upgrade' to {latest}"
    if stored > latest:
        state = f"newer than this feedmill ({latest})"
    print(f"{redacted(url)}: schema version {stored}, {state}")
    return EXIT_OK if stored == latest else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    problems = []
    for source in config.sources.values():
        if source.kind == "files" and source.path is not None and not source.path.is_dir():
            problems.append(f"source {source.name!r}: folder {source.path} does not exist")
    for problem in problems:
        logger.error("%s: %s", config.path, problem)
    if problems:
        return EXIT_FAILED
    names = ", ".join(config.sources) or "none"
    print(f"{config.path}: ok ({len(config.sources)} sources: {names})")
    return EXIT_OK


# -- helpers ----------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Config, Path]:
    config = load_config(getattr(args, "config", None))
    return config, resolve_data_dir(config, getattr(args, "data_dir", None))


def _source_names(config: Config, names: Sequence[str]) -> list[str]:
    for name in names:
        if name not in config.sources:
            known = ", ".join(config.sources) or "none"
            raise _UsageError(f"{config.path}: no source named {name!r} (known: {known})")
    return list(dict.fromkeys(names)) or list(config.sources)


def _run_crawler(
    config: Config,
    data_dir: Path,
    run_ids: dict[str, int],
    verbose: int,
    quiet: int,
    spider_args: Sequence[str] = (),
) -> int:
    """Crawl ``run_ids``' sources in one child process; returns its exit status."""
    import json

    log_level = "DEBUG" if verbose > 1 else "INFO" if verbose == 1 else "WARNING"
    if quiet:
        log_level = "ERROR"
    env = dict(os.environ, FEEDMILL_CONFIG=str(config.path), FEEDMILL_DATA_DIR=str(data_dir))
    settings = {
        "FEEDMILL_RUN_IDS": json.dumps(run_ids),
        "LOG_LEVEL": log_level,
        "FEED_BUILDER_ENABLED": "0",  # written once for the batch, below
    }
    command = [sys.executable, "-m", "crawler.run"]
    command += [part for name, value in settings.items() for part in ("-s", f"{name}={value}")]
    command += [part for arg in spider_args for part in ("-a", arg)]
    command += list(run_ids)
    logger.info("crawling %s", ", ".join(run_ids))
    logger.debug("running %s", " ".join(command))
    child = subprocess.Popen(command, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the child too: Scrapy closes its spiders (recording the runs as
        # cancelled); give it a moment, then make sure it is gone.
        logger.warning("interrupted: waiting for the crawl to stop")
        try:
            return child.wait(timeout=30)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            child.kill()
            return child.wait()


def _close_runs(store: Store, run_ids: dict[str, int], returncode: int) -> list[Run]:
    """Read the runs back; a run the child never closed failed with its exit status."""
    runs = []
    for name, run_id in run_ids.items():
        run = store.get_run(run_id)
        if run is not None and run.outcome == "running":
            error = f"the crawler process exited with status {returncode} before the run ended"
            outcome = "cancelled" if returncode < 0 or returncode == 130 else "failed"
            logger.error("source %r: %s", name, error)
            store.finish_run(run_id, outcome, error=error)
            run = store.get_run(run_id)
        if run is not None:
            runs.append(run)
    return runs


def _print_runs(
    runs: Sequence[Run], config: Config, *, with_source_kind: bool, with_start: bool = False
) -> None:
    header = ["source"]
    if with_source_kind:
        header.append("kind")
    if with_start:
        header += ["run", "started"]
    header += ["outcome", "read", "new", "updated", "unchanged", "failed", "seconds"]
    with_node = any(run.node for run in runs)  # runs on Scrapyd nodes say where
    if with_node:
        header.append("node")
    rows: list[Sequence[str]] = [header]
    for run in runs:
        row = [run.source]
        if with_source_kind:
            source = config.sources.get(run.source)
            row.append(source.kind if source else "?")
        if with_start:
            row += [str(run.id), _when(run.started)]
        seconds = run.seconds
        row += [
            run.outcome,
            *(str(getattr(run, k)) for k in ("fetched", "new", "updated", "unchanged", "failed")),
            f"{seconds:.1f}" if seconds is not None else "",
        ]
        if with_node:
            row.append(run.node or "local")
        rows.append(row)
    _print_table(rows)
    for run in runs:
        if run.error and run.outcome != "ok":
            print(f"{run.source}: {run.error}")


def _print_feeds(written: Sequence[FeedFile]) -> None:
    for feed in written:
        state = "rewritten" if feed.changed else "unchanged"
        print(f"{feed.path}  ({feed.entries} entries, {state})")


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if cell.replace(".", "", 1).isdigit() else cell.ljust(width)
            for cell, width in zip(row, widths, strict=True)
        ]
        print("  ".join(cells).rstrip())


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":
    sys.exit(main())
