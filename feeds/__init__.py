"""feedmill's store and feed side: articles in, RSS/Atom/JSON feeds out.

This package imports neither ``crawler`` nor Scrapy: the data flows one way, from the
spiders through the store to the feeds.
"""

__version__ = "0.1.0"
