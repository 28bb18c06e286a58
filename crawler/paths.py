"""Where a crawl reads its config and writes its store and feeds, from Scrapy settings.

``FEEDMILL_CONFIG`` and ``FEEDMILL_DATA_DIR`` (settings, filled from the environment by
crawler.settings) follow the same precedence as the CLI; ``STORE_PATH`` overrides the
store file alone, which is what tests and one-off runs want.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feeds.build import feeds_dir
from feeds.config import DATABASE_URL_ENV, Config, load_config, resolve_data_dir
from feeds.store import STORE_FILE
from feeds.stores import Store, open_store


def config_of(settings: Any) -> Config:
    """The config a crawl runs under, loaded once per file version.

    Spiders, pipelines and extensions each ask for it, and a batch child runs many
    crawls: parsing a feedmill.toml of 1,000 sources takes ~170 ms, so it is parsed again
    only when the file changes (size, mtime).
    """
    return cached_config(settings.get("FEEDMILL_CONFIG") or None)


_CACHE: dict[str | None, tuple[tuple[int, int], Config]] = {}


def cached_config(path: str | None) -> Config:
    """``load_config(path)``, parsed again only when the file's size or mtime changed."""
    stamp = None
    cached = _CACHE.get(path)
    if cached is not None:
        stamp = _stamp(cached[1].path)
        if stamp is not None and stamp == cached[0]:
            return cached[1]
    config = load_config(path)
    # The stamp taken before loading (when known): a change while loading shows next time.
    stamp = stamp or _stamp(config.path)
    if stamp is None:
        _CACHE.pop(path, None)
    else:
        _CACHE[path] = (stamp, config)
    return config


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def data_dir(settings: Any, config: Config | None = None) -> Path:
    """``FEEDMILL_DATA_DIR``, else the folder of ``STORE_PATH``, else as the CLI resolves it."""
    explicit = settings.get("FEEDMILL_DATA_DIR")
    if not explicit and settings.get("STORE_PATH"):
        return Path(settings.get("STORE_PATH")).absolute().parent
    return resolve_data_dir(config or config_of(settings), explicit or None)


def store_url(settings: Any) -> str | Path:
    """The store a crawl writes: ``STORE_PATH`` (a SQLite file), else the
    ``FEEDMILL_DATABASE_URL`` setting or environment variable (how the scheduler hands
    a Scrapyd job the shared database), else the config's ``database_url``, else the
    SQLite file in the data directory."""
    explicit = settings.get("STORE_PATH")
    if explicit:
        return Path(explicit).absolute()
    url = settings.get(DATABASE_URL_ENV) or config_of(settings).database_url
    return url or data_dir(settings) / STORE_FILE


def open_crawl_store(settings: Any) -> Store:
    """A new connection to the store a crawl writes (see :func:`store_url`)."""
    return open_store(store_url(settings))


def output_dir(settings: Any, config: Config | None = None) -> Path:
    """The folder feed files are written to (``<data dir>/feeds``)."""
    return feeds_dir(data_dir(settings, config))


def shared_store(crawler: Any) -> Store:
    """The one store connection of a crawl, shared by its spider, pipelines and extensions.

    SQLite lets one connection write at a time: a spider recording validators on its own
    connection while the store pipeline holds a batch open would wait for itself. The
    connection closes when the crawl's engine stops.
    """
    store = getattr(crawler, "_feedmill_store", None)
    if store is None:
        from scrapy import signals

        store = open_crawl_store(crawler.settings)
        crawler._feedmill_store = store

        def close() -> None:
            if store.in_transaction:
                store.commit()
            store.close()
            crawler._feedmill_store = None

        crawler.signals.connect(close, signal=signals.engine_stopped, weak=False)
    return store
