"""Maps the sources in feedmill.toml to spiders, so ``scrapy crawl <source>`` works.

Scrapy finds spiders by class attribute ``name``; feedmill's spiders are per kind and
its names are per source. This loader builds, for each configured source, a subclass of
its kind's spider with that name and the source's settings attached, so one class serves
every ``files`` source and ``scrapy list`` shows the configured sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


class SourceSpiderLoader:
    """A ``SPIDER_LOADER_CLASS`` that reads feedmill.toml (setting ``FEEDMILL_CONFIG``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._spiders: dict[str, type[Spider]] = {}

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self:
        return cls(cached_config(settings.get("FEEDMILL_CONFIG") or None))

    def load(self, spider_name: str) -> type[Spider]:
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
        return list(self.config.sources)

    def find_by_request(self, request: Request) -> list[str]:
        return []
