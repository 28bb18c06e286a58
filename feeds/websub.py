"""WebSub: tell the configured hub which feeds changed, so subscribers get a push.

Feeds carry the hub's link (the renderer adds it from ``FeedMeta.hub``); after a build
that rewrote feed files, the hub gets one ``hub.mode=publish`` request per feed URL.
A hub that is down costs a warning, never the run.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable

from feeds import __version__

logger = logging.getLogger(__name__)

TIMEOUT = 10.0


def publish(hub: str, feed_urls: Iterable[str], timeout: float = TIMEOUT) -> int:
    """Ping ``hub`` for each URL; returns how many pings the hub accepted (2xx)."""
    accepted = 0
    for url in dict.fromkeys(feed_urls):
        body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": url}).encode()
        request = urllib.request.Request(
            hub,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": f"feedmill/{__version__}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            logger.warning("WebSub hub %s: cannot publish %s: %s", hub, url, exc)
            continue
        if 200 <= status < 300:
            accepted += 1
            logger.debug("WebSub hub %s: published %s", hub, url)
        else:
            logger.warning("WebSub hub %s: publishing %s answered HTTP %d", hub, url, status)
    return accepted
