"""Structured data a page carries about itself (extraction layer 2).

Two sources, read from an lxml tree in one pass each:

* JSON-LD (``<script type="application/ld+json">``): the article object (``NewsArticle``,
  ``Article``, ``ReportageNewsArticle``, ``BlogPosting`` and their relatives), found at the
  top level, in lists, inside ``@graph`` or as a page's ``mainEntity``; ``@id`` references
  (Yoast-style graphs point to the author and publisher nodes) are resolved.
* ``<meta>``/``<link>``/``<html lang>``: OpenGraph (``og:*``, ``article:*``), Twitter cards,
  ``<meta name=author|description|keywords|pubdate|publishdate|…>``, ``<link rel=canonical>``.

Values are returned raw but tidy (entities decoded, white space collapsed); dates stay
strings: the extractor parses them with the source's time zone. Malformed JSON-LD is
skipped with a debug message: a page's broken script must not cost its article.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from lxml.html import HtmlElement

__all__ = [
    "ARTICLE_TYPES",
    "StructuredData",
    "StructuredFields",
    "author_name",
    "read_jsonld",
    "read_meta",
    "read_structured",
    "squash",
]

logger = logging.getLogger(__name__)

ARTICLE_TYPES = frozenset(
    {
        "article",
        "newsarticle",
        "reportagenewsarticle",
        "analysisnewsarticle",
        "opinionnewsarticle",
        "reviewnewsarticle",
        "backgroundnewsarticle",
        "askpublicnewsarticle",
        "blogposting",
        "liveblogposting",
        "socialmediaposting",
        "techarticle",
        "scholarlyarticle",
        "report",
    }
)
# Containers an article object may sit in.
_NESTING_KEYS = ("@graph", "mainEntity", "mainEntityOfPage", "itemListElement", "item")

_SPACE = re.compile(r"\s+")
_KEYWORD_SPLIT = re.compile(r"\s*[,，;；、|]\s*")


def squash(text: Any) -> str:
    """Collapse white space (all Unicode spaces, ideographic space included) and strip."""
    if not isinstance(text, str):
        return ""
    return " ".join(text.split())


_BYLINE_PREFIX = re.compile(
    r"^(?:by|from|作者|记者|文|撰文|编辑)\s*[:：/]?\s+|^(?:作者|记者|文)[:：]\s*", re.I
)


def author_name(text: str) -> str:
    """An author's name without a byline prefix: "By Jane Doe" -> "Jane Doe"."""
    name = squash(text)
    stripped = _BYLINE_PREFIX.sub("", name, count=1).strip()
    return stripped or name


def _unescaped(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    if "&" in text:
        text = html.unescape(text)
    return squash(text)


@dataclass(slots=True)
class StructuredFields:
    """What one source of structured data says; "" / [] where it says nothing. Dates
    are the raw strings; ``body`` is JSON-LD ``articleBody`` (plain text, sometimes HTML)."""

    title: str = ""
    authors: list[str] = field(default_factory=list)
    published: str = ""
    modified: str = ""
    body: str = ""
    summary: str = ""
    image: str = ""
    language: str = ""
    publisher: str = ""
    canonical_url: str = ""
    categories: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StructuredData:
    jsonld: StructuredFields = field(default_factory=StructuredFields)
    meta: StructuredFields = field(default_factory=StructuredFields)


# --------------------------------------------------------------------------------------
# JSON-LD
# --------------------------------------------------------------------------------------

_CDATA_OR_COMMENT = re.compile(
    r"^\s*(?:<!--|//\s*<!\[CDATA\[|<!\[CDATA\[)|(?:-->|//\s*\]\]>|\]\]>)\s*$"
)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _load_json(text: str) -> Any:
    """json.loads, tolerant of the usual breakage: control characters inside strings,
    HTML comment or CDATA wrappers, trailing commas. Raises ValueError otherwise."""
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    fixed = _CDATA_OR_COMMENT.sub("", text.strip())
    fixed = _TRAILING_COMMA.sub(r"\1", fixed).rstrip(";").strip()
    return json.loads(fixed, strict=False)


def _types(node: dict[str, Any]) -> set[str]:
    value = node.get("@type")
    values = value if isinstance(value, list) else [value]
    found = set()
    for item in values:
        if isinstance(item, str):
            found.add(item.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower())
    return found


def _walk(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict a JSON-LD document holds where an article object may be."""
    if depth > 6:
        return
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, depth + 1)
    elif isinstance(node, dict):
        yield node
        for key in _NESTING_KEYS:
            child = node.get(key)
            if isinstance(child, dict | list):
                yield from _walk(child, depth + 1)


def _jsonld_documents(root: HtmlElement) -> Iterator[Any]:
    for script in root.iter("script"):
        kind = (script.get("type") or "").strip().lower()
        if kind not in ("application/ld+json", "application/json+ld"):
            continue
        text = script.text or ""
        if not text.strip():
            continue
        try:
            yield _load_json(text)
        except ValueError as exc:
            logger.debug("skipping malformed JSON-LD: %s", exc)
        except RecursionError:
            # [[[[…: Python's json recurses per level; a hostile page must not take the
            # rest of the page (its text, its other JSON-LD) down with it.
            logger.debug("skipping JSON-LD nested too deeply")


def _resolve(value: Any, ids: dict[str, dict[str, Any]]) -> Any:
    """Follow an ``{"@id": …}`` reference to the node the graph defines under that id."""
    if isinstance(value, dict) and set(value) <= {"@id", "@type"} and "@id" in value:
        return ids.get(value["@id"], value)
    return value


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _name_of(value: Any, ids: dict[str, dict[str, Any]]) -> str:
    value = _resolve(value, ids)
    if isinstance(value, str):
        return _unescaped(value)
    if isinstance(value, dict):
        return _unescaped(value.get("name") or value.get("alternateName") or "")
    return ""


def _url_of(value: Any, ids: dict[str, dict[str, Any]]) -> str:
    for item in _as_list(value):
        item = _resolve(item, ids)
        if isinstance(item, str) and item.strip():
            return item.strip()
        if isinstance(item, dict):
            for key in ("url", "contentUrl", "@id"):
                found = item.get(key)
                if isinstance(found, str) and found.strip():
                    return found.strip()
                if isinstance(found, list) and found:
                    nested = _url_of(found, ids)
                    if nested:
                        return nested
    return ""


def _text_list(value: Any) -> list[str]:
    items: list[str] = []
    for item in _as_list(value):
        if isinstance(item, str):
            items.extend(_split_keywords(item))
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            items.append(_unescaped(item["name"]))
    return items


def _date_of(value: Any) -> str:
    for item in _as_list(value):
        if isinstance(item, str) and item.strip():
            return item.strip()
        if isinstance(item, int | float) and not isinstance(item, bool):
            return str(item)
    return ""


def _score(node: dict[str, Any], base_url: str) -> int:
    score = 0
    if isinstance(node.get("articleBody"), str) and node["articleBody"].strip():
        score += 4
    if node.get("headline"):
        score += 2
    if node.get("datePublished"):
        score += 1
    url = node.get("url") or node.get("mainEntityOfPage")
    if isinstance(url, dict):
        url = url.get("@id")
    if base_url and isinstance(url, str) and url.rstrip("/") == base_url.rstrip("/"):
        score += 2
    return score


def read_jsonld(root: HtmlElement, base_url: str = "") -> StructuredFields:
    """The fields of the page's JSON-LD article object (the best one when several)."""
    articles: list[dict[str, Any]] = []
    ids: dict[str, dict[str, Any]] = {}
    for document in _jsonld_documents(root):
        for node in _walk(document):
            node_id = node.get("@id")
            if isinstance(node_id, str) and len(node) > 2:
                ids.setdefault(node_id, node)
            if _types(node) & ARTICLE_TYPES:
                articles.append(node)
    fields = StructuredFields()
    if not articles:
        return fields
    article = max(articles, key=lambda node: _score(node, base_url))

    fields.title = _unescaped(article.get("headline") or article.get("name") or "")
    authors = []
    for author in _as_list(article.get("author") or article.get("creator")):
        name = author_name(_name_of(author, ids))
        if name and name not in authors:
            authors.append(name)
    fields.authors = authors
    fields.published = _date_of(article.get("datePublished") or article.get("dateCreated"))
    fields.modified = _date_of(article.get("dateModified"))
    body = article.get("articleBody")
    fields.body = body.strip() if isinstance(body, str) else ""
    fields.summary = _unescaped(article.get("description") or "")
    image = _url_of(article.get("image"), ids) or _url_of(article.get("thumbnailUrl"), ids)
    fields.image = urljoin(base_url, image) if image else ""
    publisher = article.get("publisher") or article.get("sourceOrganization")
    fields.publisher = _name_of(_as_list(publisher)[0], ids) if _as_list(publisher) else ""
    language = article.get("inLanguage")
    if isinstance(language, dict):
        language = language.get("alternateName") or language.get("name")
    fields.language = _language_tag(language) if isinstance(language, str) else ""
    url = _url_of(article.get("url"), ids) or _url_of(article.get("mainEntityOfPage"), ids)
    fields.canonical_url = urljoin(base_url, url) if url.startswith(("http", "/")) else ""
    categories = _text_list(article.get("articleSection")) + _text_list(article.get("keywords"))
    fields.categories = list(dict.fromkeys(categories))[:MAX_CATEGORIES]
    return fields


# --------------------------------------------------------------------------------------
# <meta>, <link rel=canonical>, <html lang>
# --------------------------------------------------------------------------------------

_TITLE_KEYS = ("og:title", "twitter:title", "title", "dc.title")
_SUMMARY_KEYS = ("og:description", "description", "twitter:description", "dc.description")
_IMAGE_KEYS = (
    "og:image",
    "og:image:url",
    "og:image:secure_url",
    "twitter:image",
    "twitter:image:src",
)
_PUBLISHER_KEYS = ("og:site_name", "application-name", "dc.publisher")
_PUBLISHED_KEYS = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "publication_date",
    "pub_date",
    "published_at",
    "article.published",
    "article_date_original",
    "parsely-pub-date",
    "sailthru.date",
    "dc.date.issued",
    "dc.date",
    "dcterms.created",
    "dcterms.date",
    "datecreated",
    "og:pubdate",
    "og:time",
    "weibo:article:create_at",
    "date",
)
_MODIFIED_KEYS = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "dcterms.modified",
    "dc.date.modified",
    "article.updated",
    "article_date_updated",
    "last-modified",
    "lastmod",
    "updated-date",
)
_AUTHOR_KEYS = ("article:author", "author", "sailthru.author", "parsely-author", "dc.creator")
_SECTION_KEYS = ("article:section",)
_TAG_KEYS = ("article:tag", "news_keywords", "keywords")
_NOT_A_NAME = re.compile(r"^(?:https?://|www\.|@)|^\d+$")
_META_KEY_SPACE = re.compile(r"\s+")


def _meta_index(root: HtmlElement) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for meta in root.iter("meta"):
        content = meta.get("content")
        if content is None:
            continue
        for attribute in ("property", "name", "itemprop", "http-equiv"):
            key = meta.get(attribute)
            if key:
                key = _META_KEY_SPACE.sub("", key).lower()
                index.setdefault(key, []).append(content)
    return index


def _first(index: dict[str, list[str]], keys: tuple[str, ...]) -> str:
    for key in keys:
        for value in index.get(key, ()):
            value = _unescaped(value)
            if value:
                return value
    return ""


_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
MAX_CATEGORIES = 20


def _language_tag(value: str) -> str:
    """A BCP 47-looking tag (``zh_CN`` -> ``zh-CN``), or "" for junk such as ``utf-8``."""
    value = value.split(",")[0].strip().replace("_", "-")
    return value if _LANGUAGE_TAG.match(value) and value.lower() != "utf-8" else ""


def _split_keywords(value: str) -> list[str]:
    """Keywords split on the usual delimiters; a Chinese list separated only by spaces
    (``宇航员 太空 国际空间站``) is split on the spaces."""
    value = _unescaped(value)
    parts = [part for part in _KEYWORD_SPLIT.split(value) if part]
    if len(parts) == 1 and " " in value and _CJK.search(value):
        parts = value.split()
    return parts


def read_meta(root: HtmlElement, base_url: str = "") -> StructuredFields:
    """OpenGraph, Twitter card, plain ``<meta>`` fields, canonical link and html lang."""
    index = _meta_index(root)
    fields = StructuredFields()
    fields.title = _first(index, _TITLE_KEYS)
    fields.summary = _first(index, _SUMMARY_KEYS)
    image = _first(index, _IMAGE_KEYS)
    fields.image = urljoin(base_url, image) if image else ""
    fields.publisher = _first(index, _PUBLISHER_KEYS)
    fields.published = _first(index, _PUBLISHED_KEYS)
    fields.modified = _first(index, _MODIFIED_KEYS)
    authors: list[str] = []
    for key in _AUTHOR_KEYS:
        for value in index.get(key, ()):
            name = author_name(_unescaped(value))
            if name and not _NOT_A_NAME.search(name) and name not in authors:
                authors.append(name)
        if authors:
            break
    fields.authors = authors

    language = root.get("lang") or root.get("xml:lang") or ""
    if not language.strip():
        language = _first(index, ("content-language", "og:locale", "language", "dc.language"))
    fields.language = _language_tag(language)

    canonical = ""
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if "canonical" in rel and (link.get("href") or "").strip():
            canonical = link.get("href", "").strip()
            break
    canonical = canonical or _first(index, ("og:url",))
    fields.canonical_url = urljoin(base_url, canonical) if canonical else ""

    # sections and tags; the keywords <meta> (often a long SEO list) only without them
    categories: list[str] = []
    for keys in (_SECTION_KEYS + _TAG_KEYS[:-1], _TAG_KEYS[-1:]):
        for key in keys:
            for value in index.get(key, ()):
                categories.extend(_split_keywords(value))
        if categories:
            break
    fields.categories = list(dict.fromkeys(categories))[:MAX_CATEGORIES]
    return fields


def read_structured(root: HtmlElement, base_url: str = "") -> StructuredData:
    """Both structured sources of a parsed page."""
    return StructuredData(jsonld=read_jsonld(root, base_url), meta=read_meta(root, base_url))
