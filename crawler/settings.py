"""Scrapy settings of the feedmill project (``scrapy.cfg`` points here).

feedmill's own settings carry a component prefix (``STORE_*``, ``FILES_*``) or the
``FEEDMILL_`` prefix and avoid Scrapy's ``FEED_*``/``FEEDS`` names. Paths come from the
environment, as on the CLI: ``FEEDMILL_CONFIG`` (default ``feedmill.toml``) and
``FEEDMILL_DATA_DIR`` (default: the config's, else ``var``); ``-s STORE_PATH=…``
overrides the store file alone.
"""

import os

from feeds import __version__

BOT_NAME = "feedmill"
PROJECT_URL = "https://github.com/feedmill/feedmill"

SPIDER_LOADER_CLASS = "crawler.loader.SourceSpiderLoader"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

FEEDMILL_CONFIG = os.environ.get("FEEDMILL_CONFIG", "")
FEEDMILL_DATA_DIR = os.environ.get("FEEDMILL_DATA_DIR", "")
# Set by a parent that recorded the run's start: {"source": run_id, ...} as JSON.
FEEDMILL_RUN_IDS = ""
STORE_PATH = ""
# The shared database (postgresql://…) when the scheduler sends runs to Scrapyd nodes.
FEEDMILL_DATABASE_URL = os.environ.get("FEEDMILL_DATABASE_URL", "")
# Off on Scrapyd nodes: there the feeds are the feed servers' business (they render them
# from the shared database), and the node's disk is not where readers look.
FEED_BUILDER_ENABLED = True
STORE_BATCH_SIZE = 500
STORE_BATCH_SECONDS = 2.0
FILES_MAX_BYTES = 20 * 1024 * 1024

ITEM_PIPELINES = {
    "crawler.pipelines.NormalisePipeline": 100,
    "crawler.pipelines.ValidatePipeline": 200,
    "crawler.pipelines.DedupePipeline": 300,
    "crawler.pipelines.StorePipeline": 400,
}
EXTENSIONS = {
    # Off below anyway; None also spares every crawl process their imports (the remote
    # control pulls in aiohttp: ~0.15 s of CPU per process, a refresh's biggest single cost).
    "scrapy.extensions.remote_control.RemoteControl": None,
    "scrapy.extensions.telnet.TelnetConsole": None,
    "crawler.extensions.RunRecorder": 500,
    "crawler.extensions.FeedBuilder": 600,
    "crawler.extensions.CloseGuard": 700,
}
# No consoles into a running crawl: the telnet console and the remote-control HTTP
# server both listen on a port and run code sent to them.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Manners: identify ourselves, obey robots.txt, do not hammer a site.
USER_AGENT = f"feedmill/{__version__} (+{PROJECT_URL})"
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS_PER_DOMAIN = 4
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
RETRY_TIMES = 2
RETRY_BACKOFF_BASE = 1.0  # seconds before the first retry, doubled for each further one
RETRY_BACKOFF_MAX = 60.0
# A page that stays unreachable is a warning about one article, not an error of the run.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    "crawler.middlewares.RetryDelayMiddleware": 560,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.middlewares.QuickMetaRefreshMiddleware": 580,
    # Before RedirectMiddleware (600) sees the response: a loop fails with its reason.
    "crawler.middlewares.RedirectLoopMiddleware": 650,
}
# Site rule files (FiveFilters ftr-site-config format), looked up by host name;
# default: the rules/ folder beside feedmill.toml.
SITE_RULES_DIR = ""
# The item pipelines are synchronous (SQLite), so items of one response gain nothing from
# being processed "in parallel"; Scrapy 2.13+ starts CONCURRENT_ITEMS asyncio tasks for
# every response's output whatever it holds (100 by default: ~2 ms of CPU per article page,
# a third of a bare crawl's cost). One worker processes them in the same order.
CONCURRENT_ITEMS = 1
# A developer aid: on every call of a generator callback Scrapy re-reads the callback's
# source and parses it (its cache is keyed by the bound method, a new object each time):
# ~1-3 ms per listing page, a tenth of what an unchanged refresh of a site costs.
WARN_ON_GENERATOR_RETURN_VALUE = False
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_DATEFORMAT = "%Y-%m-%d %H:%M:%S"
LOG_FORMATTER = "crawler.logformatter.ShortLogFormatter"
