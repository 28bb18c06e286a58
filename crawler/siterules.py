"""Site rules: per-field XPath/CSS selectors for one site (extraction layer 1).

Rules come from two places: the ``rules`` table of a source in feedmill.toml
(:func:`rules_from_config`) and rule files in the FiveFilters ftr-site-config format
(:func:`parse_ftr_config`), looked up per host in a ``rules/`` folder
(:class:`RulesDirectory`). Config rules override rule files (:meth:`SiteRules.merged`).

Expressions may be XPath (what ftr-site-config files use) or CSS (what users tend to write
in feedmill.toml); :func:`selector_kind` tells them apart by syntax and
:func:`compile_selector` turns either into a cached :class:`lxml.etree.XPath`.
:func:`apply_rules` strips what the ``strip*`` directives name from a parsed page, in
place, then evaluates the field rules the way Full-Text RSS does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from cssselect import SelectorError
from lxml import etree, html
from parsel.csstranslator import GenericTranslator

from feeds.article import RelatedLink

logger = logging.getLogger(__name__)

__all__ = [
    "CONFIG_KEYS",
    "RuleFields",
    "RulesDirectory",
    "RulesError",
    "SiteRules",
    "apply_replacements",
    "apply_rules",
    "compile_selector",
    "find_link",
    "parse_ftr_config",
    "rule_file_names",
    "rules_from_config",
    "selector_kind",
    "strip_page",
]


class RulesError(ValueError):
    """A rule that cannot be used: an invalid expression, an unknown key, a wrong type."""


@dataclass(frozen=True, slots=True)
class SiteRules:
    """Selectors for one site. Each field holds XPath or CSS expressions, tried in order
    (the first that yields something wins), as in FiveFilters ftr-site-config files."""

    title: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    date: tuple[str, ...] = ()
    author: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()
    strip_id_or_class: tuple[str, ...] = ()  # plain strings, not expressions
    strip_image_src: tuple[str, ...] = ()  # plain strings, not expressions
    single_page_link: tuple[str, ...] = ()
    next_page_link: tuple[str, ...] = ()
    prune: bool | None = None
    tidy: bool | None = None
    test_urls: tuple[str, ...] = ()
    origin: str = ""  # where the rules came from (config source name or rule file path)
    # (find, replace) pairs applied to the page's HTML text before parsing
    # (ftr ``replace_string(find): replace`` and ``find_string``/``replace_string``).
    replacements: tuple[tuple[str, str], ...] = ()

    def merged(self, fallback: SiteRules) -> SiteRules:
        """These rules, with ``fallback``'s for every field these leave empty (or None).

        Used as ``config_rules.merged(file_rules)``: config rules override rule files."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "origin":
                continue
            mine = getattr(self, f.name)
            empty = mine is None if f.name in ("prune", "tidy") else not mine
            values[f.name] = getattr(fallback, f.name) if empty else mine
        origins = [o for o in (self.origin, fallback.origin) if o]
        values["origin"] = " + ".join(dict.fromkeys(origins))
        return SiteRules(**values)

    def is_empty(self) -> bool:
        """Whether these rules would change or find nothing on any page."""
        return all(getattr(self, f.name) in ((), None) for f in fields(self) if f.name != "origin")


@dataclass(slots=True)
class RuleFields:
    """What site rules found on a page; empty/None where a rule is absent or found nothing."""

    title: str = ""
    body_html: str = ""  # the matched body element(s) serialised, before cleaning
    date: str = ""  # the raw date text or attribute value (parsed by the caller)
    authors: list[str] = field(default_factory=list)
    related: list[RelatedLink] = field(default_factory=list)
    # the matched body elements themselves (in the page's tree), so the extractor can
    # copy them instead of parsing body_html again
    body_elements: list[Any] = field(default_factory=list, compare=False, repr=False)


# -- expressions -----------------------------------------------------------------------

_XPATH_AXES = (
    "ancestor",
    "ancestor-or-self",
    "attribute",
    "child",
    "descendant",
    "descendant-or-self",
    "following",
    "following-sibling",
    "namespace",
    "parent",
    "preceding",
    "preceding-sibling",
    "self",
)
# `name(` at the start: an XPath function call (string(...), substring-before(...),
# id(...), normalize-space(...)). CSS never starts with an identifier and a parenthesis.
_FUNCTION_CALL = re.compile(r"[A-Za-z_][\w.-]*\s*\(")
_AXIS = re.compile(r"(?:{})\s*::".format("|".join(re.escape(a) for a in _XPATH_AXES)))


def _unquoted(expr: str) -> str:
    """``expr`` with the contents of quoted strings removed (quotes kept)."""
    out: list[str] = []
    quote = ""
    for char in expr:
        if quote:
            if char == quote:
                quote = ""
                out.append(char)
        else:
            if char in "'\"":
                quote = char
            out.append(char)
    return "".join(out)


def selector_kind(expr: str) -> str:
    """``"xpath"`` or ``"css"``, decided by syntax.

    XPath: starts with ``/``, ``(``, ``.`` followed by ``/`` or ``.`` (``./x``, ``.//x``,
    ``..``), ``@``, an axis (``descendant::``) or a function call (``string(...)``); or has a
    ``/`` or ``@`` outside quoted strings (``div/p``, ``*[@id='x']``) — CSS uses neither.
    Anything else is CSS (``div.article-body``, ``h1``, ``.byline a``, ``a[href*='@']``).
    """
    text = expr.strip()
    if not text:
        return "css"
    if text[0] in "/(@" or text in (".", "..") or text.startswith(("./", ".//", "..")):
        return "xpath"
    if _FUNCTION_CALL.match(text) or _AXIS.match(text):
        return "xpath"
    bare = _unquoted(text)
    if "/" in bare or "@" in bare:
        return "xpath"
    return "css"


@lru_cache(maxsize=1)
def _css_translator() -> GenericTranslator:
    # parsel's subclass of cssselect.GenericTranslator: adds ::text and ::attr(name).
    return GenericTranslator()


# A document to try a new expression on: XPath reports unknown functions and namespace
# prefixes only when evaluated, and such an expression should fail when rules load.
_PROBE = html.fromstring("<html><head><title>t</title></head><body><p>p</p></body></html>")


@lru_cache(maxsize=2048)
def _compile(expr: str) -> etree.XPath:
    """Compile ``expr`` (XPath or CSS); raises whatever lxml/cssselect raise."""
    if selector_kind(expr) == "css":
        xpath = _css_translator().css_to_xpath(expr.strip())
    else:
        xpath = expr.strip()
    compiled = etree.XPath(xpath)
    compiled(_PROBE)
    return compiled


def compile_selector(expr: str, origin: str = "") -> etree.XPath:
    """``expr`` (XPath or CSS, see :func:`selector_kind`) as a compiled, cached XPath.

    Raises :class:`RulesError` naming the expression and ``origin`` when it is invalid."""
    if not isinstance(expr, str) or not expr.strip():
        raise RulesError(f"empty selector{_from(origin)}")
    try:
        return _compile(expr)
    except (etree.XPathError, SelectorError) as exc:
        kind = "CSS" if selector_kind(expr) == "css" else "XPath"
        raise RulesError(f"invalid {kind} expression {expr!r}{_from(origin)}: {exc}") from exc


def _from(origin: str) -> str:
    return f" (in {origin})" if origin else ""


@lru_cache(maxsize=256)
def _warn_once(origin: str, expr: str, error: str) -> None:
    logger.warning("site rule %r%s failed on a page: %s", expr, _from(origin), error)


def _evaluate(root: Any, expr: str, origin: str) -> Any:
    """The result of ``expr`` on ``root``: a list (node-set), str, float or bool; [] when
    evaluation fails (logged once per expression)."""
    try:
        return compile_selector(expr, origin)(root)
    except etree.XPathEvalError as exc:
        _warn_once(origin, expr, str(exc))
        return []


def _results(root: Any, expr: str, origin: str) -> list[Any]:
    """``expr``'s result as a list: node-set items, or one string (empty strings dropped)."""
    result = _evaluate(root, expr, origin)
    if isinstance(result, list):
        return result
    if isinstance(result, str):
        return [result] if result.strip() else []
    return []  # numbers and booleans say nothing about a page


_STRING_VALUE = etree.XPath("string()")


def _is_element(node: Any) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def _text(node: Any) -> str:
    """The whitespace-collapsed text of a result item (element, text, attribute, string)."""
    if isinstance(node, etree._Element):
        if not isinstance(node.tag, str):  # comment or processing instruction
            return ""
        return " ".join(str(_STRING_VALUE(node)).split())
    if isinstance(node, str):
        return " ".join(node.split())
    return ""


# -- applying rules --------------------------------------------------------------------

_STRIP_ID_OR_CLASS = etree.XPath("//*[contains(@class, $s) or contains(@id, $s)]")
_STRIP_IMAGE_SRC = etree.XPath("//img[contains(@src, $s)]")


def _drop(node: Any) -> None:
    """Remove ``node`` from its tree keeping its tail text (lxml ``drop_tree``); a text
    or attribute result is removed from its element."""
    if isinstance(node, etree._Element):
        parent = node.getparent()
        if parent is None:
            return  # the root stays
        if node.tail:
            previous = node.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + node.tail
            else:
                parent.text = (parent.text or "") + node.tail
        parent.remove(node)
        return
    getparent = getattr(node, "getparent", None)
    owner = getparent() if getparent else None
    if owner is None:
        return
    if node.is_attribute:
        owner.attrib.pop(node.attrname, None)
    elif node.is_tail:
        owner.tail = None
    elif node.is_text:
        owner.text = None


def _plain(value: str) -> str:
    # Full-Text RSS removes quotes from strip_id_or_class/strip_image_src values.
    return value.replace("'", "").replace('"', "").strip()


def strip_page(root: html.HtmlElement, rules: SiteRules) -> int:
    """Apply the ``strip``, ``strip_id_or_class`` and ``strip_image_src`` directives to
    ``root`` in place; returns how many nodes were removed."""
    doomed: list[Any] = []
    for expr in rules.strip:
        result = _evaluate(root, expr, rules.origin)
        if isinstance(result, list):
            doomed.extend(result)
    for value in filter(None, map(_plain, rules.strip_id_or_class)):
        doomed.extend(_STRIP_ID_OR_CLASS(root, s=value))
    for value in filter(None, map(_plain, rules.strip_image_src)):
        doomed.extend(_STRIP_IMAGE_SRC(root, s=value))
    for node in doomed:
        _drop(node)
    return len(doomed)


def _first_text(root: Any, expressions: tuple[str, ...], origin: str) -> str:
    for expr in expressions:
        for item in _results(root, expr, origin):
            text = _text(item)
            if text:
                return text
    return ""


def _body(
    root: Any, expressions: tuple[str, ...], origin: str, serialise: bool = True
) -> tuple[list[Any], str]:
    """The elements the first matching expression finds, in document order, and (with
    ``serialise``) their serialisation concatenated; an element inside one already taken
    is skipped (as ftr does)."""
    for expr in expressions:
        taken: list[etree._Element] = []
        for item in _results(root, expr, origin):
            if not _is_element(item) or item in taken:
                continue
            if any(ancestor in taken for ancestor in item.iterancestors()):
                continue
            taken.append(item)
        if taken:  # an element never serialises to white space only
            if not serialise:
                return taken, ""
            return taken, "".join(
                html.tostring(el, encoding="unicode", with_tail=False) for el in taken
            )
    return [], ""


def _authors(root: Any, expressions: tuple[str, ...], origin: str) -> list[str]:
    for expr in expressions:
        names = [text for text in map(_text, _results(root, expr, origin)) if text]
        if names:
            return list(dict.fromkeys(names))
    return []


def _web_url(href: str, base_url: str) -> str:
    """``href`` made absolute against ``base_url``; "" unless http(s)."""
    href = href.strip()
    if not href or href.startswith("#"):
        return ""
    url = urljoin(base_url, href)
    return url if urlsplit(url).scheme.lower() in ("http", "https") else ""


def _anchors(item: Any) -> list[etree._Element]:
    if _is_element(item):
        return [item] if item.tag == "a" else list(item.iter("a"))
    getparent = getattr(item, "getparent", None)
    owner = getparent() if getparent else None
    if owner is not None and getattr(item, "is_attribute", False) and owner.tag == "a":
        return [owner]  # //a/@href
    return []


def _related(
    root: Any, expressions: tuple[str, ...], base_url: str, origin: str
) -> list[RelatedLink]:
    for expr in expressions:
        links: dict[str, RelatedLink] = {}
        for item in _results(root, expr, origin):
            for anchor in _anchors(item):
                url = _web_url(anchor.get("href", ""), base_url)
                if url and url not in links:
                    title = _text(anchor) or _text(anchor.get("title", "")) or url
                    links[url] = RelatedLink(title=title, url=url)
        if links:
            return list(links.values())
    return []


def apply_rules(
    root: html.HtmlElement, rules: SiteRules, base_url: str, *, serialise_body: bool = True
) -> RuleFields:
    """Apply ``strip*`` directives to ``root`` in place, then evaluate the field rules.

    Without ``serialise_body``, ``body_html`` stays empty and the body is only in
    ``body_elements`` (the extractor copies those; serialising them is wasted work)."""
    strip_page(root, rules)
    origin = rules.origin
    body_elements, body_html = _body(root, rules.body, origin, serialise_body)
    return RuleFields(
        title=_first_text(root, rules.title, origin),
        body_html=body_html,
        body_elements=body_elements,
        date=_first_text(root, rules.date, origin),
        authors=_authors(root, rules.author, origin),
        related=_related(root, rules.related, base_url, origin),
    )


def find_link(
    root: html.HtmlElement, expressions: tuple[str, ...], base_url: str, origin: str = ""
) -> str:
    """The first http(s) URL the expressions find (``next_page_link``,
    ``single_page_link``): an element's ``href``, or a string/attribute result; made
    absolute against ``base_url``; "" when none."""
    for expr in expressions:
        for item in _results(root, expr, origin):
            if _is_element(item):
                href = item.get("href", "")
            elif isinstance(item, str):
                href = item
            else:
                continue
            url = _web_url(href, base_url)
            if url:
                return url
    return ""


def apply_replacements(html_text: str, rules: SiteRules) -> str:
    """``html_text`` with the rules' (find, replace) pairs applied in order."""
    for find, replace in rules.replacements:
        if find:
            html_text = html_text.replace(find, replace)
    return html_text


# -- ftr-site-config files -------------------------------------------------------------

_FTR_LISTS = {
    "title": "title",
    "body": "body",
    "date": "date",
    "author": "author",
    "strip": "strip",
    "strip_id_or_class": "strip_id_or_class",
    "strip_image_src": "strip_image_src",
    "single_page_link": "single_page_link",
    "next_page_link": "next_page_link",
    "test_url": "test_urls",
}
_FTR_EXPRESSIONS = {
    "title",
    "body",
    "date",
    "author",
    "strip",
    "single_page_link",
    "next_page_link",
}
_FTR_FLAGS = {"prune", "tidy"}
_YES = {"yes", "true", "on", "1"}
_NO = {"no", "false", "off", "0"}
# `name(argument): value`, e.g. replace_string(<br /><br />): <p>, http_header(user-agent): x
_FTR_CALL = re.compile(r"([A-Za-z0-9_]+)\((.*?)\)\s*:(.*)\Z")


def parse_ftr_config(text: str, origin: str) -> SiteRules:
    """Parse a FiveFilters ftr-site-config file (one ``name: value`` directive a line).

    Supported: ``title``, ``body``, ``date``, ``author``, ``strip``, ``strip_id_or_class``,
    ``strip_image_src``, ``single_page_link``, ``next_page_link``, ``test_url`` (all
    repeatable), ``prune``/``tidy`` (yes/no), ``replace_string(find): replace`` and
    ``find_string``/``replace_string`` pairs. Anything else is skipped with a DEBUG log
    line; an invalid expression is skipped with a WARNING. Never raises on content."""
    lists: dict[str, list[str]] = {name: [] for name in _FTR_LISTS.values()}
    flags: dict[str, bool | None] = dict.fromkeys(_FTR_FLAGS)
    replacements: list[tuple[str, str]] = []
    finds: list[str] = []  # find_string values waiting for their replace_string
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        call = _FTR_CALL.match(line)
        if call:
            name, argument, value = call.group(1), call.group(2), call.group(3).strip()
            if name == "replace_string" and argument:
                replacements.append((argument, value))
            elif name == "replace_string":
                _skip(origin, number, f"{name}()", "empty find string")
            else:
                _skip(origin, number, f"{name}({argument})", "not supported")
            continue
        if ":" not in line:
            _skip(origin, number, line[:60], "malformed (no colon)")
            continue
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "find_string":
            if value:
                finds.append(value)
            else:
                _skip(origin, number, name, "empty value")
        elif name == "replace_string":
            if finds:
                replacements.append((finds.pop(0), value))
            else:
                _skip(origin, number, name, "no find_string before it")
        elif not value:
            _skip(origin, number, name, "empty value")
        elif name in _FTR_FLAGS:
            if value.lower() in _YES or value.lower() in _NO:
                flags[name] = value.lower() in _YES
            else:
                _skip(origin, number, name, f"not yes/no: {value!r}")
        elif name in _FTR_LISTS:
            if name in _FTR_EXPRESSIONS:
                try:
                    compile_selector(value, f"{origin}:{number}")
                except RulesError as exc:
                    logger.warning("%s", exc)
                    continue
            lists[_FTR_LISTS[name]].append(value)
        else:
            _skip(origin, number, name, "not supported")
    for find in finds:
        logger.debug("%s: find_string %r has no replace_string; ignored", origin, find)
    return SiteRules(
        **{name: tuple(values) for name, values in lists.items()},
        prune=flags["prune"],
        tidy=flags["tidy"],
        origin=origin,
        replacements=tuple(replacements),
    )


def _skip(origin: str, number: int, directive: str, why: str) -> None:
    logger.debug("%s:%d: ignoring directive %r (%s)", origin, number, directive, why)


# -- feedmill.toml rules table ---------------------------------------------------------

_CONFIG_EXPRESSIONS = {
    "title",
    "body",
    "date",
    "author",
    "related",
    "strip",
    "single_page_link",
    "next_page_link",
}
_CONFIG_STRINGS = {"strip_id_or_class", "strip_image_src"}
_CONFIG_FLAGS = {"prune", "tidy"}
CONFIG_KEYS = frozenset(_CONFIG_EXPRESSIONS | _CONFIG_STRINGS | _CONFIG_FLAGS)


def rules_from_config(table: dict[str, Any], origin: str) -> SiteRules:
    """Site rules from the ``rules`` table of a feedmill.toml source.

    Keys are field names, values a selector (XPath or CSS) or a list of them; ``prune``
    and ``tidy`` take booleans. Raises :class:`RulesError` naming the key on an unknown
    key, a wrong type or an invalid expression."""
    if not isinstance(table, dict):
        raise RulesError("rules must be a table of field = selector(s)")
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in _CONFIG_FLAGS:
            if not isinstance(value, bool):
                raise RulesError(f"rules.{key} must be true or false, not {value!r}")
            values[key] = value
            continue
        if key not in CONFIG_KEYS:
            known = ", ".join(sorted(CONFIG_KEYS))
            raise RulesError(f"unknown key rules.{key} (known: {known})")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(
            isinstance(item, str) and item.strip() for item in items
        ):
            raise RulesError(f"rules.{key} must be a string or a list of non-empty strings")
        if key in _CONFIG_EXPRESSIONS:
            for item in items:
                try:
                    compile_selector(item, origin)
                except RulesError as exc:
                    raise RulesError(f"rules.{key}: {exc}") from exc
        values[key] = tuple(items)
    return SiteRules(**values, origin=origin)


# -- a folder of rule files ------------------------------------------------------------

_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\Z")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+\Z")


def _normal_host(host: str) -> str:
    """``host`` lower-cased, without port and trailing dot; "" if it is no host name."""
    try:
        name = urlsplit("//" + host.strip()).hostname or ""
    except ValueError:
        return ""
    name = name.rstrip(".")
    return name if _HOST.match(name) else ""


def rule_file_names(host: str) -> list[str]:
    """The file names :class:`RulesDirectory` tries for ``host``, in order: the host,
    the host without ``www.``, then ftr wildcard files (leading dot) for each parent
    domain of that, nearest first. As in ftr, ``.example.com.txt`` serves
    ``news.example.com`` but not ``example.com`` or ``www.example.com``."""
    name = _normal_host(host)
    if not name:
        return []
    bare = name[4:] if name.startswith("www.") else name
    names = [name, bare]
    if not _IPV4.match(bare):
        labels = bare.split(".")
        names += ["." + ".".join(labels[i:]) for i in range(1, len(labels) - 1)]
    return [f"{n}.txt" for n in dict.fromkeys(names)]


class RulesDirectory:
    """A folder of ftr-site-config rule files, looked up by host (see
    :func:`rule_file_names`). Files are parsed when first needed, and cached; a missing
    folder holds no rules."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._hosts: dict[str, SiteRules | None] = {}
        self._files: dict[str, SiteRules | None] = {}

    def __repr__(self) -> str:
        return f"RulesDirectory({str(self.path)!r})"

    def for_host(self, host: str) -> SiteRules | None:
        """The rules for ``host`` (port and case ignored), or None."""
        key = host.strip().lower()
        if key not in self._hosts:
            self._hosts[key] = self._lookup(key)
        return self._hosts[key]

    def for_url(self, url: str) -> SiteRules | None:
        """The rules for the host of ``url``, or None."""
        try:
            host = urlsplit(url).netloc.rpartition("@")[2]
        except ValueError:
            return None
        return self.for_host(host) if host else None

    def _lookup(self, host: str) -> SiteRules | None:
        if not self.path.is_dir():
            return None
        for name in rule_file_names(host):
            rules = self._file(name)
            if rules is not None:
                return rules
        return None

    def _file(self, name: str) -> SiteRules | None:
        if name not in self._files:
            path = self.path / name
            rules = None
            if path.is_file():
                try:
                    text = path.read_text(encoding="utf-8-sig", errors="replace")
                except OSError as exc:
                    logger.warning("cannot read site rules %s: %s", path, exc)
                else:
                    rules = parse_ftr_config(text, str(path))
            self._files[name] = rules
        return self._files[name]
