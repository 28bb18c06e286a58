"""What the feed server renders besides the feed files: HTML pages, OPML, the stylesheet PI.

Pure functions of their arguments (no I/O, no clock), so the server module stays about
HTTP and these stay easy to test. Every string that comes from the config or the store is
escaped with :func:`html.escape` (or written through lxml, for XML); the one exception is
an article's body HTML, which is passed through :func:`sanitize_html` first.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
from lxml import etree

from feeds.article import Article
from feeds.config import COMBINED_FEED, Config, Source
from feeds.store import RUN_COUNTS, Run
from feeds.xmltext import xml_safe

__all__ = [
    "FEED_FORMATS",
    "STYLESHEET_HREF",
    "SourceStatus",
    "article_page",
    "dashboard_page",
    "feed_urls",
    "flash_message",
    "opml_document",
    "run_json",
    "sanitize_html",
    "with_stylesheet",
]

STYLESHEET_HREF = "/static/feed.xsl"
# format → (file extension, media type, label); the order is the order shown on pages.
FEED_FORMATS: dict[str, tuple[str, str, str]] = {
    "rss": ("rss", "application/rss+xml", "RSS"),
    "atom": ("atom", "application/atom+xml", "Atom"),
    "json": ("json", "application/feed+json", "JSON Feed"),
}


# --------------------------------------------------------------------------- stylesheet PI

_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml\s[^>]*?\?>")
_ROOT_START = re.compile(rb"<[A-Za-z_:]")


def with_stylesheet(xml_bytes: bytes, href: str) -> bytes:
    """``xml_bytes`` with ``<?xml-stylesheet type="text/xsl" href="HREF"?>`` in its prolog,
    right after the XML declaration (or first, when there is none).

    Idempotent: a document whose prolog already has an ``xml-stylesheet`` PI is returned
    unchanged, so the result stays byte-identical from build to build. Only UTF-8 (or
    ASCII) documents are handled; the renderer writes nothing else.
    """
    if xml_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError("with_stylesheet: only UTF-8 XML is supported")
    if "?>" in href or xml_safe(href) != href or any(c in href for c in "\r\n\t"):
        raise ValueError(f"with_stylesheet: unusable stylesheet href {href!r}")
    root = _ROOT_START.search(xml_bytes)
    prolog = xml_bytes[: root.start()] if root else xml_bytes
    if b"<?xml-stylesheet" in prolog:
        return xml_bytes
    value = html.escape(href, quote=True).encode("utf-8")
    pi = b'<?xml-stylesheet type="text/xsl" href="' + value + b'"?>'
    declaration = _DECLARATION.match(xml_bytes)
    if declaration is None:
        return pi + b"\n" + xml_bytes
    end = declaration.end()
    return xml_bytes[:end] + b"\n" + pi + xml_bytes[end:]


# --------------------------------------------------------------------------- body HTML

# Elements removed with everything inside them (the text after them is kept).
_DROP_ELEMENTS = frozenset(
    {
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "base",
        "meta",
        "link",
        "form",
        "input",
        "button",
        "textarea",
        "select",
        "noscript",
        "template",
        "svg",
        "math",
        "portal",
    }
)
# Attributes that hold a URL; a URL with a scheme other than these is dropped.
_URL_ATTRIBUTES = frozenset(
    {
        "href",
        "src",
        "action",
        "formaction",
        "xlink:href",
        "poster",
        "background",
        "cite",
        "longdesc",
        "data",
        "lowsrc",
        "dynsrc",
        "usemap",
        "manifest",
        "ping",
        "codebase",
    }
)
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# Browsers ignore ASCII whitespace and controls inside a scheme ("java\tscript:").
_IGNORED_IN_URL = re.compile(r"[\x00-\x20\x7f]+")


def _safe_url(value: str, *, image: bool = False) -> bool:
    compact = _IGNORED_IN_URL.sub("", value).lower()
    match = _SCHEME.match(compact)
    if match is None:
        return True  # a relative (or empty) URL stays on the page's own site
    scheme = match.group(1)
    if scheme in _SAFE_SCHEMES:
        return True
    return image and compact.startswith("data:image/") and not compact.startswith("data:image/svg")


def _unsafe_attribute(tag: str, name: str, value: str) -> bool:
    """Whether attribute ``name`` (lower-cased) of element ``tag`` must go."""
    if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
        return True
    if name in _URL_ATTRIBUTES:
        return not _safe_url(value, image=tag == "img")
    if name in ("srcset", "imagesrcset"):
        candidates = [part.strip().split(" ")[0] for part in value.split(",") if part.strip()]
        return not all(_safe_url(url, image=True) for url in candidates)
    return False


def sanitize_html(fragment: str) -> str:
    """Defensive second pass over body HTML that the crawler already cleaned: removes
    scripts (and other active elements), ``on*`` handlers, ``style`` attributes and any
    URL whose scheme is not http, https or mailto (``data:image/*`` allowed for images).
    Returns the fragment wrapped in ``<div class="body">``."""
    if not fragment.strip():
        return '<div class="body"></div>'
    try:
        root = lxml.html.fragment_fromstring(xml_safe(fragment), create_parent="div")
    except (etree.ParserError, ValueError):
        text = "".join(f"<p>{html.escape(line)}</p>" for line in fragment.splitlines() if line)
        return f'<div class="body">{text}</div>'
    for element in list(root.iter()):
        if element is root:
            continue
        if not isinstance(element.tag, str):  # comments, processing instructions
            element.drop_tree()
            continue
        tag = element.tag.lower().rsplit("}", 1)[-1]
        if tag in _DROP_ELEMENTS:
            element.drop_tree()
            continue
        for name in list(element.attrib):
            lname = name.lower()
            if _unsafe_attribute(tag, lname, element.attrib[name]):
                del element.attrib[name]
        if tag == "a" and element.get("href"):
            element.set("rel", "noopener noreferrer nofollow")
    root.attrib.clear()
    root.set("class", "body")
    return lxml.html.tostring(root, encoding="unicode", method="html")


# --------------------------------------------------------------------------- shared bits

_LANG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")

_STYLE = """
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC",
"Microsoft YaHei",sans-serif;margin:0 auto;padding:1rem 1.25rem;max-width:72rem;color:#1d1f21;
background:#fff}
a{color:#0b57d0}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;vertical-align:top;padding:.45rem .6rem;border-bottom:1px solid #e3e5e8}
th{background:#f5f6f8;font-weight:600}
tr:hover td{background:#fafbfc}
.muted{color:#6b7075}.small{font-size:.82rem}
.status{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;font-size:.8rem;
font-weight:600;color:#fff;background:#8a9096}
.status.ok{background:#1e8e3e}.status.failed,.status.timeout,.status.interrupted,.status.lost{background:#c5221f}
.status.running{background:#1a73e8}.status.cancelled{background:#b06000}
.error{color:#c5221f;white-space:pre-wrap;font-size:.82rem}
.flash{padding:.6rem .9rem;border-radius:.3rem;background:#e8f0fe;margin:.8rem 0}
form.run{display:flex;gap:.3rem}form.run input{width:8rem}
article .byline,article .date{color:#5f6368;margin:.2rem 0}
article .body{margin:1.2rem 0}article .body img{max-width:100%;height:auto}
article .rights{color:#5f6368;font-size:.85rem;border-top:1px solid #e3e5e8;padding-top:.6rem}
"""


def _e(text: object) -> str:
    return html.escape(xml_safe(str(text)), quote=True)


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M ") + (moment.strftime("%z") or "UTC")


def _page(title: str, head: str, body: str, lang: str = "") -> str:
    lang_attr = f' lang="{_e(lang)}"' if lang and _LANG.match(lang) else ""
    return (
        f'<!DOCTYPE html>\n<html{lang_attr}>\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_e(title)}</title>\n{head}<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def feed_urls(config: Config, name: str) -> dict[str, str]:
    """Format → absolute URL of the feed ``name`` (a source or ``all``)."""
    base = config.base_url.rstrip("/")
    quoted = quote(name, safe="")
    return {fmt: f"{base}/feeds/{quoted}.{ext}" for fmt, (ext, _, _) in FEED_FORMATS.items()}


def feed_paths(name: str) -> dict[str, str]:
    """Format → path of the feed ``name`` on this server (links that work on any host)."""
    quoted = quote(name, safe="")
    return {fmt: f"/feeds/{quoted}.{ext}" for fmt, (ext, _, _) in FEED_FORMATS.items()}


def _feed_title(config: Config, name: str) -> str:
    if name == COMBINED_FEED:
        return config.title or "feedmill"
    if name in config.feeds:
        return config.feeds[name].title or name
    return config.sources[name].title or name


def _feed_names(config: Config) -> list[str]:
    return config.feed_names()


# --------------------------------------------------------------------------- article page


def article_page(article: Article, source: Source | None = None) -> str:
    """The article as a readable HTML page; ``source`` (when configured) gives its zone."""
    zh = article.language.lower().startswith("zh")
    title = article.title.strip() or ("（无标题）" if zh else "(untitled)")
    byline = " · ".join(
        part for part in (article.author, article.agency, article.publisher) if part.strip()
    )
    parts = ["<article>", f"<h1>{_e(title)}</h1>"]
    if byline:
        parts.append(f'<p class="byline">{_e(byline)}</p>')
    published = article.published
    if published is not None:
        if source is not None and published.tzinfo is not None:
            with contextlib.suppress(ValueError, KeyError):
                published = published.astimezone(ZoneInfo(source.timezone))
        parts.append(
            f'<p class="date"><time datetime="{_e(published.isoformat())}">'
            f"{_e(_when(published))}</time></p>"
        )
    if article.body_html.strip():
        parts.append(sanitize_html(article.body_html))
    else:
        paragraphs = "".join(
            f"<p>{_e(line.strip())}</p>" for line in article.body_text.splitlines() if line.strip()
        )
        parts.append(f'<div class="body">{paragraphs}</div>')
    related = [link for link in article.related if link.title.strip() or _is_web_url(link.url)]
    if related:
        parts.append(f'<section class="related"><h2>{"相关阅读" if zh else "Related"}</h2><ul>')
        for link in related:
            label = _e(link.title.strip() or link.url.strip())
            if _is_web_url(link.url):
                parts.append(
                    f'<li><a href="{_e(link.url.strip())}" rel="noopener noreferrer">'
                    f"{label}</a></li>"
                )
            else:
                parts.append(f"<li>{label}</li>")
        parts.append("</ul></section>")
    if article.rights.strip():
        parts.append(f'<p class="rights">{_e(article.rights.strip())}</p>')
    if _is_web_url(article.url):
        label = "原文" if zh else "Original article"
        parts.append(
            f'<p class="source"><a href="{_e(article.url.strip())}" '
            f'rel="noopener noreferrer">{label}</a></p>'
        )
    parts.append("</article>")
    parts.append('<footer class="muted small"><a href="/">feedmill</a></footer>')
    return _page(title, "", "\n".join(parts), lang=article.language.strip())


# --------------------------------------------------------------------------- dashboard


def run_json(run: Run) -> dict[str, object]:
    """One run as the API shows it (the log tail stays in the store)."""
    return {
        "id": run.id,
        "source": run.source,
        "trigger": run.trigger,
        "outcome": run.outcome,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
        "seconds": run.seconds,
        "counts": {name: getattr(run, name) for name in RUN_COUNTS},
        "error": run.error,
        "node": run.node,  # the Scrapyd node that ran it ("" for a local run)
        "job": run.job,
    }


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """What the dashboard and ``/api/sources`` say about one source."""

    source: Source
    next_run: datetime | None
    running_run: int | None  # id of the run under way, None when idle
    last_run: Run | None
    articles: int

    @property
    def schedule_text(self) -> str:
        schedule = self.source.schedule
        return schedule.describe() if schedule else "on demand"

    def as_json(self, config: Config) -> dict[str, object]:
        return {
            "name": self.source.name,
            "kind": self.source.kind,
            "title": self.source.title,
            "schedule": self.schedule_text,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "running": self.running_run is not None,
            "running_run_id": self.running_run,
            "last_run": run_json(self.last_run) if self.last_run else None,
            "articles": self.articles,
            "feeds": feed_urls(config, self.source.name),
        }


_FLASH = {
    "started": "Started run {run} of {source}.",
    "busy": "{source} is already running; try again when it has finished.",
    "unknown": "There is no such source.",
    "unauthorized": "Wrong or missing token.",
    "disabled": "Running sources from the web is disabled: set FEEDMILL_TOKEN.",
    "error": "Could not start the run; the server log says why.",
}


def flash_message(query: Mapping[str, str], config: Config) -> str:
    """The message a POST to ``/sources/NAME/run`` left in the redirect's query string.

    Only known message codes are shown, with a configured source name and a numeric run
    id filled in, so a crafted link cannot put arbitrary text on the dashboard.
    """
    template = _FLASH.get(query.get("flash", ""))
    if template is None:
        return ""
    source = query.get("source", "")
    run = query.get("run", "")
    return template.format(
        source=source if source in config.sources else "the source",
        run=run if re.fullmatch(r"[0-9]{1,18}", run) else "?",
    )


def _status_cell(status: SourceStatus) -> str:
    if status.running_run is not None:
        return (
            '<span class="status running">running</span> '
            f'<span class="small muted">run {status.running_run}</span>'
        )
    run = status.last_run
    if run is None:
        return '<span class="status">never run</span>'
    outcome = run.outcome if re.fullmatch(r"[a-z]+", run.outcome) else "unknown"
    return f'<span class="status {outcome}">{_e(outcome)}</span>'


def _last_run_cell(status: SourceStatus) -> str:
    run = status.last_run
    if run is None:
        return '<span class="muted">—</span>'
    cells = [f'<time datetime="{_e(run.started.isoformat())}">{_e(_when(run.started))}</time>']
    if run.finished is not None:
        cells.append(
            f'<div class="small muted">{run.new} new, {run.updated} updated, '
            f"{run.failed} failed · {run.seconds or 0:.1f}s</div>"
        )
    if run.error and run.outcome != "ok":
        cells.append(f'<div class="error">{_e(run.error[:500])}</div>')
    return "".join(cells)


def _run_form(name: str, enabled: bool, why: str = "set FEEDMILL_TOKEN to enable") -> str:
    if not enabled:
        return f'<span class="small muted" title="{_e(why)}">disabled</span>'
    action = f"/sources/{quote(name, safe='')}/run"
    return (
        f'<form class="run" method="post" action="{_e(action)}">'
        f'<input type="password" name="token" placeholder="token" autocomplete="current-password" '
        f'required aria-label="token for {_e(name)}">'
        '<button type="submit">Run now</button></form>'
    )


def _feed_links(config: Config, name: str) -> str:
    urls = feed_paths(name)
    return " · ".join(
        f'<a href="{_e(urls[fmt])}" type="{mime}">{label}</a>'
        for fmt, (_, mime, label) in FEED_FORMATS.items()
    )


def dashboard_page(
    config: Config,
    statuses: Iterable[SourceStatus],
    *,
    flash: str = "",
    run_enabled: bool = True,
    notice: str = "",
) -> str:
    """The service's home page: each source's health, its feeds and a "run now" form.
    ``notice`` is a line about this node (a standby scheduler says who leads)."""
    head = []
    for name in _feed_names(config):
        title = _feed_title(config, name)
        for fmt, url in feed_urls(config, name).items():
            _, mime, label = FEED_FORMATS[fmt]
            head.append(
                f'<link rel="alternate" type="{mime}" title="{_e(title)} ({label})" '
                f'href="{_e(url)}">\n'
            )
    base = config.base_url.rstrip("/")
    head.append(f'<link rel="outline" type="text/x-opml" title="OPML" href="{_e(base)}/opml">\n')
    body = [f"<h1>{_e(config.title or 'feedmill')}</h1>"]
    if config.description.strip():
        body.append(f'<p class="muted">{_e(config.description)}</p>')
    why_disabled = ("runs are started by the leading scheduler",) if notice else ()
    if notice:
        body.append(f'<p class="muted" id="node-role">{_e(notice)}</p>')
    if flash:
        body.append(f'<p class="flash" role="status">{_e(flash)}</p>')
    body.append(
        "<table>\n<thead><tr><th>Source</th><th>Status</th><th>Last run</th>"
        "<th>Next run</th><th>Articles</th><th>Feeds</th><th>Run now</th></tr></thead>\n<tbody>"
    )
    for status in statuses:
        source = status.source
        title = _e(source.title or source.name)
        if _is_web_url(source.link):
            title = f'<a href="{_e(source.link)}" rel="noopener noreferrer">{title}</a>'
        next_run = '<span class="muted">—</span>'
        if status.next_run is not None:
            when = status.next_run
            next_run = f'<time datetime="{_e(when.isoformat())}">{_e(_when(when))}</time>'
        body.append(
            f'<tr id="source-{_e(source.name)}">'
            f'<td>{title}<div class="small muted">{_e(source.name)} · {_e(source.kind)} · '
            f"{_e(status.schedule_text)}</div></td>"
            f"<td>{_status_cell(status)}</td>"
            f"<td>{_last_run_cell(status)}</td>"
            f"<td>{next_run}</td>"
            f"<td>{status.articles}</td>"
            f"<td>{_feed_links(config, source.name)}</td>"
            f"<td>{_run_form(source.name, run_enabled, *why_disabled)}</td></tr>"
        )
    body.append(
        f'<tr id="source-{COMBINED_FEED}"><td>{_e(config.title or COMBINED_FEED)}'
        f'<div class="small muted">{COMBINED_FEED} · every source combined</div></td>'
        "<td></td><td></td><td></td><td></td>"
        f"<td>{_feed_links(config, COMBINED_FEED)}</td><td></td></tr>"
    )
    body.append("</tbody>\n</table>")
    body.append(
        f'<p class="small"><a href="{_e(base)}/opml">OPML</a> (every feed, for importing into a '
        'feed reader) · <a href="/api/sources">JSON status</a> · '
        '<a href="/healthz">health</a></p>'
    )
    return _page(config.title or "feedmill", "".join(head), "\n".join(body))


# --------------------------------------------------------------------------- OPML


def opml_document(config: Config) -> bytes:
    """OPML 2.0 listing every feed (each source, then ``all``) by its RSS URL."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = xml_safe(config.title or "feedmill")
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(root, "body")
    base = config.base_url.rstrip("/")
    for name in _feed_names(config):
        title = xml_safe(_feed_title(config, name))
        if name == COMBINED_FEED or name in config.feeds:
            html_url = config.link or f"{base}/"
            description = (
                config.feeds[name].description if name in config.feeds else config.description
            )
        else:
            source = config.sources[name]
            html_url = source.link or f"{base}/"
            description = source.description
        outline = etree.SubElement(body, "outline")
        outline.set("type", "rss")
        outline.set("text", title)
        outline.set("title", title)
        outline.set("xmlUrl", feed_urls(config, name)["rss"])
        outline.set("htmlUrl", xml_safe(html_url))
        if description.strip():
            outline.set("description", xml_safe(description))
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)
