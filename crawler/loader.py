"""Maps the sources in feedmill.toml to spiders, so ``scrapy crawl <source>`` works.

Scrapy finds spiders by class attribute ``name``; feedmill's spiders are per kind and
its names are per source. This loader builds, for each configured source, a subclass of
its kind's spider with that name and the source's settings attached, so one class serves
every ``files`` source and ``scrapy list`` shows the configured sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Spider
from scrapy.utils.misc import load_object

from crawler.paths import cached_config
from feeds.config import Config

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.settings import BaseSettings

# Spider class per source kind, imported only when a source of that kind runs (the web
# kinds pull in trafilatura, which a files-only run need not pay for).
SPIDER_CLASSES: dict[str, str] = {
    "files": "crawler.spiders.files.FilesSpider",
    "web": "crawler.spiders.web.WebSpider",
    "feed": "crawler.spiders.feed.FeedSpider",
}


# ``scrapy crawl _source -a source=NAME`` runs source NAME. Scrapyd nodes are sent this
# one spider name with the source as an argument: Scrapyd checks a job's spider against
# ``scrapy list`` output it caches until it restarts, so a source added to feedmill.toml
# later would otherwise be refused by every node. (Source names start with a letter or
# digit, so this name is never a source's.)
DISPATCH_SPIDER = "_source"


class SourceDispatchSpider(Spider):
    """Stands for the source named by the ``source`` argument; becomes its spider."""

    name = DISPATCH_SPIDER

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Spider:
        name = str(kwargs.pop("source", "") or "")
        if not name:
            raise ValueError(f"spider {DISPATCH_SPIDER!r} needs the argument source=NAME")
        real = SourceSpiderLoader.from_settings(crawler.settings).load(name)
        crawler.spidercls = real
        return real.from_crawler(crawler, *args, **kwargs)


class SourceSpiderLoader:
    """A ``SPIDER_LOADER_CLASS`` that reads feedmill.toml (setting ``FEEDMILL_CONFIG``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._spiders: dict[str, type[Spider]] = {}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self:
        return cls(cached_config(settings.get("FEEDMILL_CONFIG") or None))

    def load(self, spider_name: str) -> type[Spider]:
        if spider_name == DISPATCH_SPIDER:
            return SourceDispatchSpider
        if spider_name not in self._spiders:
            source = self.config.sources.get(spider_name)
            if source is None:
                known = ", ".join(self.config.sources) or "none"
                raise KeyError(
                    f"no source named {spider_name!r} in {self.config.path} (known: {known})"
                )
            base = load_object(SPIDER_CLASSES[source.kind])
            self._spiders[spider_name] = type(
                f"{base.__name__}_{spider_name}",
                (base,),
                {"name": spider_name, "source": source},
            )
        return self._spiders[spider_name]

    def list(self) -> list[str]:
        return [*self.config.sources, DISPATCH_SPIDER]

    def find_by_request(self, request: Request) -> list[str]:
        return []
