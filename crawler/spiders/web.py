"""The spider of ``web`` sources: listing pages → article links → article pages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lxml import etree
from scrapy import Request
from scrapy.http import Response

from crawler.siterules import compile_selector
from crawler.spiders.pages import NOT_MODIFIED, PageSpider


class WebSpider(PageSpider):
    """Follows a site's listing pages (with pagination) to its articles."""

    name = "web"

    def start_requests_for_source(self) -> Iterable[Request]:
        for url in self.source.start_urls:
            yield self.conditional_request(url, self.parse_listing, page=1)

    def parse_listing(self, response: Response, page: int) -> Iterator[Request]:
        if response.status == NOT_MODIFIED:
            cached = self.cached_links(response)
            links, next_url = list(cached.links), cached.next_url
            self.logger.debug("%s: not modified, %d known links", response.url, len(links))
        else:
            links = self.article_links(response)
            next_url = self.next_page(response)
            self.remember(response, links, next_url)
            if not links:
                self.logger.warning("%s: no article links found on the listing page", response.url)
        for url in links:
            if self.wants(url):
                yield self.article_request(url)
        if next_url and page < self.source.max_pages:
            yield self.conditional_request(next_url, self.parse_listing, page=page + 1)

    def article_links(self, response: Response) -> list[str]:
        """Absolute article URLs on a listing page, in page order, without duplicates."""
        if not hasattr(response, "xpath"):
            return []
        root = response.selector.root
        anchors: list[Any] = []
        if self.source.article_links:
            for element in compile_selector(self.source.article_links)(root):
                if not isinstance(element, etree._Element):
                    anchors.append(str(element))
                elif element.tag == "a":
                    anchors.append(element.get("href", ""))
                else:
                    anchors.extend(a.get("href", "") for a in element.iter("a"))
        else:
            anchors = [a.get("href", "") for a in root.iter("a")]
        pattern = re.compile(self.source.article_pattern) if self.source.article_pattern else None
        urls: list[str] = []
        for href in anchors:
            href = href.strip()
            if not href or href.startswith(("#", "javascript:", "mailto:")):
                continue
            url = response.urljoin(href).split("#", 1)[0]
            if not url.startswith(("http://", "https://")):
                continue
            if pattern is not None and not pattern.search(url):
                continue
            if url not in urls:
                urls.append(url)
        return urls

    def next_page(self, response: Response) -> str:
        if not self.source.next_page or not hasattr(response, "xpath"):
            return ""
        for element in compile_selector(self.source.next_page)(response.selector.root):
            href = element.get("href", "") if isinstance(element, etree._Element) else str(element)
            if href.strip():
                return response.urljoin(href.strip())
        return ""
