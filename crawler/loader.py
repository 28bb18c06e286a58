"""Maps the sources in feedmill.toml to spiders, so ``scrapy crawl <source>`` works.

Scrapy finds spiders by class attribute ``name``; feedmill's spiders are per kind and
its names are per source. This loader builds, for each configured source, a subclass of
its kind's spider with that name and the source's settings attached, so one class serves
every ``files`` source and ``scrapy list`` shows the configured sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import Spider

from crawler.spiders.files import FilesSpider
from feeds.config import Config, load_config

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.settings import BaseSettings

SPIDER_CLASSES: dict[str, type[Spider]] = {"files": FilesSpider}


class SourceSpiderLoader:
    """A ``SPIDER_LOADER_CLASS`` that reads feedmill.toml (setting ``FEEDMILL_CONFIG``)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._spiders: dict[str, type[Spider]] = {}
        for name, source in config.sources.items():
            base = SPIDER_CLASSES[source.kind]
            self._spiders[name] = type(
                f"{base.__name__}_{name}", (base,), {"name": name, "source": source}
            )

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> Self:
        return cls(load_config(settings.get("FEEDMILL_CONFIG") or None))

    def load(self, spider_name: str) -> type[Spider]:
        try:
            return self._spiders[spider_name]
        except KeyError:
            known = ", ".join(self._spiders) or "none"
            raise KeyError(
                f"no source named {spider_name!r} in {self.config.path} (known: {known})"
            ) from None

    def list(self) -> list[str]:
        return list(self._spiders)

    def find_by_request(self, request: Request) -> list[str]:
        return []
