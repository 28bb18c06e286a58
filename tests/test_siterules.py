"""Site rules (extraction layer 1): selectors, strip directives, fields, ftr files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lxml import html

from crawler.siterules import (
    RuleFields,
    RulesDirectory,
    RulesError,
    SiteRules,
    apply_replacements,
    apply_rules,
    compile_selector,
    find_link,
    parse_ftr_config,
    rule_file_names,
    rules_from_config,
    selector_kind,
)
from feeds.article import RelatedLink

from support import FIXTURES, ROOT

BASE = "https://news.example.com/2024/05/story.html"
LOGGER = "crawler.siterules"


def page(body: str, head: str = "") -> html.HtmlElement:
    return html.fromstring(f"<html><head>{head}</head><body>{body}</body></html>")


def run(markup: str, head: str = "", /, **rules: object) -> tuple[RuleFields, html.HtmlElement]:
    """Apply rules built from ``rules`` to a page with ``markup`` as its body."""
    root = page(markup, head)
    return apply_rules(root, SiteRules(**rules, origin="test"), BASE), root  # type: ignore[arg-type]


# -- xpath or css ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "//div[@id='content']",
        "//*[contains(@class,'x')]",
        "(//h1)[1]",
        "substring-before(//title, ' | ')",
        "string(//meta[@name='author']/@content)",
        "normalize-space(//h1)",
        "id('main')",
        ".//p",
        "./p",
        "..",
        "@content",
        "*[@id='x']",  # @ inside brackets but not quoted: CSS has no @
        "div/p",
        "descendant::p",
        "  //h1  ",
    ],
)
def test_selector_kind_xpath(expr: str) -> None:
    assert selector_kind(expr) == "xpath"


@pytest.mark.parametrize(
    "expr",
    [
        "div.article-body",
        "h1",
        ".byline a",
        "#main > p",
        "article, .post",
        "a[href*='@']",  # @ only inside a quoted value
        'a[href^="http://x.org/a"]',  # / only inside a quoted value
        "p:not(.ad)",
        "li:nth-child(2)",
        "time::attr(datetime)",
    ],
)
def test_selector_kind_css(expr: str) -> None:
    assert selector_kind(expr) == "css"


def test_compile_selector_css_and_xpath_find_the_same() -> None:
    root = page("<div class='a b'><p>one</p></div><div class='c'><p>two</p></div>")
    by_css = compile_selector("div.b p")(root)
    by_xpath = compile_selector("//div[contains(@class,'b')]/p")(root)
    assert [p.text for p in by_css] == [p.text for p in by_xpath] == ["one"]


def test_compile_selector_is_cached() -> None:
    assert compile_selector("div.cached-one") is compile_selector("div.cached-one")


def test_css_pseudo_elements_for_attributes() -> None:
    fields, _ = run(
        "<time datetime='2024-05-03T10:00:00Z'>3 May</time>", date=("time::attr(datetime)",)
    )
    assert fields.date == "2024-05-03T10:00:00Z"


@pytest.mark.parametrize(
    ("expr", "kind"),
    [
        ("//div[", "XPath"),
        ("div[", "CSS"),
        ("p:bogus()", "CSS"),
        ("//x:y", "XPath"),
        ("nofunc(1)", "XPath"),
    ],
)
def test_invalid_expression_names_expression_and_origin(expr: str, kind: str) -> None:
    with pytest.raises(RulesError) as info:
        compile_selector(expr, "rules/example.com.txt")
    message = str(info.value)
    assert repr(expr) in message
    assert "rules/example.com.txt" in message
    assert kind in message


def test_empty_expression_is_an_error() -> None:
    with pytest.raises(RulesError, match="empty"):
        compile_selector("  ", "here")


def test_rules_error_is_a_value_error() -> None:
    assert issubclass(RulesError, ValueError)


# -- strip directives ------------------------------------------------------------------


def test_strip_removes_matches_and_keeps_tail_text() -> None:
    body = "<div id='c'><p>Start <span class='ad'>BUY</span> middle <aside>x</aside>end</p></div>"
    fields, root = run(body, strip=("//span[@class='ad']", "aside"), body=("//div[@id='c']",))
    assert root.xpath("string(//p)") == "Start  middle end"
    assert "BUY" not in fields.body_html
    assert "<aside>" not in fields.body_html


def test_strip_first_child_keeps_tail_in_parent_text() -> None:
    _, root = run("<p><b>gone</b>kept</p>", strip=("//b",))
    assert html.tostring(root.find(".//p"), encoding="unicode") == "<p>kept</p>"


def test_strip_text_and_attribute_results() -> None:
    _, root = run("<p style='x'>drop me<b>keep</b></p>", strip=("//p/text()", "//p/@style"))
    assert html.tostring(root.find(".//p"), encoding="unicode") == "<p><b>keep</b></p>"


def test_strip_id_or_class_matches_substrings_of_id_and_class() -> None:
    body = (
        "<div class='story'><p>text</p>"
        "<div class='social share-tools'>S</div>tail1"
        "<ul id='sharebar'>U</ul>tail2"
        "<p class='shar'>near miss</p></div>"
    )
    fields, root = run(body, strip_id_or_class=("share",), body=("//div[@class='story']",))
    assert root.xpath("//*[contains(@class,'share') or contains(@id,'share')]") == []
    assert "tail1" in fields.body_html and "tail2" in fields.body_html
    assert "near miss" in fields.body_html


def test_strip_id_or_class_ignores_quotes_like_ftr() -> None:
    _, root = run("<div id='promo'>P</div><p>x</p>", strip_id_or_class=("'promo'",))
    assert root.xpath("//div") == []


def test_strip_image_src() -> None:
    body = "<p>a<img src='/t/pixel.gif?x=1'>b<img src='/photo.jpg'>c</p>"
    _, root = run(body, strip_image_src=("pixel.gif",))
    assert [img.get("src") for img in root.iter("img")] == ["/photo.jpg"]
    assert root.xpath("string(//p)") == "abc"


def test_strip_runs_before_fields() -> None:
    fields, _ = run(
        "<h1><span class='kicker'>LIVE</span> Headline</h1>", strip=(".kicker",), title=("h1",)
    )
    assert fields.title == "Headline"


# -- fields ----------------------------------------------------------------------------


def test_title_from_element_is_whitespace_collapsed() -> None:
    fields, _ = run("<h1>  A\n  <em>big</em>\t story </h1>", title=("//h1",))
    assert fields.title == "A big story"


def test_title_from_string_function_and_attribute() -> None:
    head = "<title>The story | Example News</title><meta property='og:title' content='OG title'>"
    fields, _ = run("", head, title=("substring-before(//title, ' | ')",))
    assert fields.title == "The story"
    fields, _ = run("", head, title=("//meta[@property='og:title']/@content",))
    assert fields.title == "OG title"


def test_first_expression_that_yields_something_wins() -> None:
    fields, _ = run(
        "<h1></h1><h2>Second</h2><h3>Third</h3>",
        title=("//h4", "//h1", "string(//h5)", "//h2", "//h3"),
        date=("//time/@datetime", "//h3"),
    )
    assert fields.title == "Second"
    assert fields.date == "Third"


def test_body_concatenates_all_matches_in_document_order() -> None:
    body = "<div class='part'><p>one</p></div><aside>no</aside><div class='part'><p>two</p></div>"
    fields, _ = run(body, body=("//div[@class='part']",))
    assert (
        fields.body_html == '<div class="part"><p>one</p></div><div class="part"><p>two</p></div>'
    )


def test_body_excludes_tail_and_skips_nested_matches() -> None:
    body = "<div class='x'>outer<div class='x'>inner</div></div>after"
    fields, _ = run(body, body=("//div[@class='x']",))
    assert fields.body_html == '<div class="x">outer<div class="x">inner</div></div>'


def test_body_first_matching_expression_wins_and_strings_are_ignored() -> None:
    fields, _ = run(
        "<article><p>art</p></article><main><p>main</p></main>",
        body=("//div[@id='none']", "string(//p)", "main", "article"),
    )
    assert fields.body_html == "<main><p>main</p></main>"


def test_date_from_attribute_and_text() -> None:
    body = "<time datetime='2024-05-03'>3 May 2024</time><span class='d'> Friday,\n 3 May </span>"
    fields, _ = run(body, date=("//time/@datetime",))
    assert fields.date == "2024-05-03"
    fields, _ = run(body, date=(".d",))
    assert fields.date == "Friday, 3 May"


def test_authors_all_matches_deduplicated_in_order() -> None:
    body = (
        "<span class='by'><a>Ann Lee</a></span><span class='by'><a>Bo Chan, Cy Dee</a></span>"
        "<span class='by'><a> Ann  Lee </a></span>"
    )
    fields, _ = run(body, author=("//meta[@name='author']/@content", ".by a", "//p"))
    assert fields.authors == ["Ann Lee", "Bo Chan, Cy Dee"]


def test_author_from_string_function() -> None:
    head = "<meta name='author' content='Dana Roe'>"
    fields, _ = run("", head, author=("string(//meta[@name='author']/@content)",))
    assert fields.authors == ["Dana Roe"]


def test_related_links_absolutised_filtered_and_deduplicated() -> None:
    body = (
        "<ul class='related'>"
        "<li><a href='/2024/05/other.html'> Other  story </a></li>"
        "<li><a href='https://elsewhere.org/x'>Elsewhere</a></li>"
        "<li><a href='mailto:desk@example.com'>Mail</a></li>"
        "<li><a href='javascript:void(0)'>JS</a></li>"
        "<li><a href='#comments'>Comments</a></li>"
        "<li><a>No href</a></li>"
        "<li><a href='other.html' title='Sibling'><img src='x.jpg'></a></li>"
        "<li><a href='https://news.example.com/2024/05/other.html'>Dup</a></li>"
        "</ul>"
    )
    fields, _ = run(body, related=(".related",))
    # mailto:, javascript: and #fragment links are dropped; "other.html" and the absolute
    # "Dup" link resolve to the first link's URL.
    assert fields.related == [
        RelatedLink("Other story", "https://news.example.com/2024/05/other.html"),
        RelatedLink("Elsewhere", "https://elsewhere.org/x"),
    ]


def test_related_from_anchors_and_href_attributes() -> None:
    body = "<p><a href='a.html'>A</a><a href='b.html' title='Bee'></a></p>"
    fields, _ = run(body, related=("//p/a",))
    assert fields.related == [
        RelatedLink("A", "https://news.example.com/2024/05/a.html"),
        RelatedLink("Bee", "https://news.example.com/2024/05/b.html"),
    ]
    fields, _ = run(body, related=("//p/a/@href",))
    assert [link.url for link in fields.related] == [
        "https://news.example.com/2024/05/a.html",
        "https://news.example.com/2024/05/b.html",
    ]


def test_no_rules_find_nothing_and_change_nothing() -> None:
    fields, root = run("<h1>t</h1><p>x</p>")
    assert fields == RuleFields()
    assert root.xpath("string(//body)") == "tx"


def test_failing_evaluation_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # compiles, and passes the load-time probe (which has no <h2>), but fails on this page
    bad = "//h2[. = 'Two' and $undefined]"
    rules = SiteRules(title=(bad, "//h2"), origin="eval-test")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        fields = apply_rules(page("<h2>Two</h2>"), rules, BASE)
    assert fields.title == "Two"
    assert any(bad in r.getMessage() and "eval-test" in r.getMessage() for r in caplog.records)


def test_find_link() -> None:
    root = page(
        "<a class='next' href='?page=2'>Next</a><link rel='next' href='/p/3'>"
        "<a class='js' href='javascript:x()'>JS</a>"
    )
    assert find_link(root, ("//a[@class='none']", "a.next"), BASE) == (
        "https://news.example.com/2024/05/story.html?page=2"
    )
    assert find_link(root, ("//link[@rel='next']/@href",), BASE) == "https://news.example.com/p/3"
    assert find_link(root, ("a.js",), BASE) == ""


# -- ftr-site-config files -------------------------------------------------------------

FTR = """\
# a comment
   # an indented comment

title: //h1[@class='headline']
title: //meta[@property='og:title']/@content
body: //div[@id='story'] | //div[@class='gallery']
body: //article
date: //time/@datetime
author: //a[@rel='author']
author: string(//meta[@name='author']/@content)
strip: //div[contains(@class, 'newsletter')]
strip: //aside
strip_id_or_class: share
strip_id_or_class: promo
strip_image_src: pixel.gif
single_page_link: //a[contains(@href, 'print')]
next_page_link: //a[@rel='next']
prune: no
tidy: YES
test_url: https://www.example.com/a.html
test_url: https://www.example.com/b.html
test_contains: some text
autodetect_on_failure: no
http_header(user-agent): Mozilla/5.0 (X11; Linux)
replace_string(<br /><br />): </p><p>
replace_string(<span class="x">): <span>
find_string: <noscript>
replace_string: <div>
find_string: </noscript>
replace_string: </div>
parser: html5php
login_uri: https://example.com/login
dissolve: //span[@class='wrap']
wrap_in(blockquote): //div[@class='quote']
skip_json_ld: yes
native_ad_clue: //div[@class='sponsored']
if_page_contains: //div[@class='paywall']
this line has no colon
made_up_directive: 1
"""


def test_parse_ftr_config_supported_directives() -> None:
    rules = parse_ftr_config(FTR, "rules/example.com.txt")
    assert rules.title == ("//h1[@class='headline']", "//meta[@property='og:title']/@content")
    assert rules.body == ("//div[@id='story'] | //div[@class='gallery']", "//article")
    assert rules.date == ("//time/@datetime",)
    assert rules.author == ("//a[@rel='author']", "string(//meta[@name='author']/@content)")
    assert rules.strip == ("//div[contains(@class, 'newsletter')]", "//aside")
    assert rules.strip_id_or_class == ("share", "promo")
    assert rules.strip_image_src == ("pixel.gif",)
    assert rules.single_page_link == ("//a[contains(@href, 'print')]",)
    assert rules.next_page_link == ("//a[@rel='next']",)
    assert rules.prune is False
    assert rules.tidy is True
    assert rules.test_urls == ("https://www.example.com/a.html", "https://www.example.com/b.html")
    assert rules.related == ()
    assert rules.origin == "rules/example.com.txt"
    assert rules.replacements == (
        ("<br /><br />", "</p><p>"),
        ('<span class="x">', "<span>"),
        ("<noscript>", "<div>"),
        ("</noscript>", "</div>"),
    )


def test_parse_ftr_config_logs_each_ignored_directive(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        parse_ftr_config(FTR, "rules/example.com.txt")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    lines = FTR.splitlines()

    def logged(directive: str) -> str:
        number = next(i for i, line in enumerate(lines, 1) if line.startswith(directive))
        found = [m for m in messages if m.startswith(f"rules/example.com.txt:{number}:")]
        assert len(found) == 1, (directive, messages)
        return found[0]

    for directive in (
        "test_contains",
        "autodetect_on_failure",
        "parser",
        "login_uri",
        "dissolve",
        "skip_json_ld",
        "native_ad_clue",
        "if_page_contains",
        "made_up_directive",
    ):
        assert repr(directive) in logged(directive)
    assert "http_header(user-agent)" in logged("http_header")
    assert "wrap_in(blockquote)" in logged("wrap_in")
    assert "no colon" in logged("this line has no colon")
    # supported directives are not logged
    assert not any("'title'" in m or "'body'" in m or "'prune'" in m for m in messages)


def test_parse_ftr_config_edge_cases(caplog: pytest.LogCaptureFixture) -> None:
    text = (
        "\ufefftitle: //h1\n"
        "body:\n"  # empty value
        "prune: maybe\n"  # not yes/no
        "body: //div[\n"  # invalid XPath: skipped with a warning
        "body: div.content\n"  # CSS in a rule file is fine
        "replace_string: orphan\n"  # no find_string before it
        "find_string: lonely\n"  # no replace_string after it
        "replace_string(): x\n"
        "TITLE: //h2\n"  # names are case-insensitive
        ":\n"
        "\x00\x01garbage\n"
    )
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        rules = parse_ftr_config(text, "odd.txt")
    assert rules.title == ("//h1", "//h2")
    assert rules.body == ("div.content",)
    assert rules.prune is None
    assert rules.replacements == ()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'//div['" in warnings[0] and "odd.txt:4" in warnings[0]


def test_parse_ftr_config_empty_text() -> None:
    assert parse_ftr_config("", "empty.txt") == SiteRules(origin="empty.txt")


def test_apply_replacements_in_order() -> None:
    rules = SiteRules(replacements=(("<br><br>", "</p><p>"), ("</p><p>", "</p>\n<p>"), ("", "x")))
    assert apply_replacements("<p>a<br><br>b</p>", rules) == "<p>a</p>\n<p>b</p>"
    assert apply_replacements("unchanged", SiteRules()) == "unchanged"


def test_ftr_rules_applied_end_to_end() -> None:
    rules = parse_ftr_config((FIXTURES / "rules" / "localhost.txt").read_text(), "localhost.txt")
    source = (
        "<html><body><h1 class='headline'>Local <i>news</i></h1>"
        "<span class='byline'><a>Ann</a> and <a>Bo</a></span><time datetime='2024-05-03'>x</time>"
        "<div id='story'><p>one<br><br>two</p><aside>ad</aside><div class='share'>s</div>"
        "<img src='/pixel.gif'></div></body></html>"
    )
    root = html.fromstring(apply_replacements(source, rules))
    fields = apply_rules(root, rules, "http://localhost:8123/article.html")
    assert fields.title == "Local news"
    assert fields.body_html == '<div id="story"><p>one</p><p>two</p></div>'
    assert fields.date == "2024-05-03"
    assert fields.authors == ["Ann", "Bo"]
    assert (rules.prune, rules.tidy) == (False, True)


# -- feedmill.toml rules tables --------------------------------------------------------


def test_rules_from_config_strings_lists_and_flags() -> None:
    rules = rules_from_config(
        {
            "title": "h1.headline",
            "body": ["div.article-body", "//article"],
            "related": ".related",
            "strip_id_or_class": ["share", "promo"],
            "strip_image_src": "pixel",
            "prune": False,
            "tidy": True,
        },
        "source 'news'",
    )
    assert rules.title == ("h1.headline",)
    assert rules.body == ("div.article-body", "//article")
    assert rules.related == (".related",)
    assert rules.strip_id_or_class == ("share", "promo")
    assert rules.strip_image_src == ("pixel",)
    assert (rules.prune, rules.tidy) == (False, True)
    assert rules.origin == "source 'news'"
    assert rules_from_config({}, "x") == SiteRules(origin="x")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"titel": "h1"}, "titel"),
        ({"body": 3}, "body"),
        ({"author": ["a", 2]}, "author"),
        ({"date": ""}, "date"),
        ({"strip": {"x": "y"}}, "strip"),
        ({"prune": "yes"}, "prune"),
        ({"tidy": 1}, "tidy"),
        ({"test_url": "https://x"}, "test_url"),
    ],
)
def test_rules_from_config_errors_name_the_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(RulesError, match=rf"\brules\.{key}\b"):
        rules_from_config(table, "source 'news'")


def test_rules_from_config_invalid_expression_names_key_and_expression() -> None:
    with pytest.raises(RulesError) as info:
        rules_from_config({"title": "h1", "body": ["article", "div[class="]}, "source 'news'")
    message = str(info.value)
    assert "rules.body" in message and "'div[class='" in message and "source 'news'" in message


def test_rules_from_config_does_not_compile_plain_strings() -> None:
    rules = rules_from_config({"strip_id_or_class": "[weird(", "strip_image_src": "//x["}, "s")
    assert rules.strip_id_or_class == ("[weird(",)


def test_rules_from_config_rejects_a_non_table() -> None:
    with pytest.raises(RulesError, match="table"):
        rules_from_config(["h1"], "s")  # type: ignore[arg-type]


# -- merging ---------------------------------------------------------------------------


def test_merged_prefers_self_field_by_field() -> None:
    config = SiteRules(title=("h1.mine",), prune=False, origin="source 'news'")
    file = SiteRules(
        title=("//h1",),
        body=("//article",),
        strip=("//aside",),
        prune=True,
        tidy=True,
        replacements=(("a", "b"),),
        origin="rules/example.com.txt",
    )
    merged = config.merged(file)
    assert merged.title == ("h1.mine",)
    assert merged.body == ("//article",)
    assert merged.strip == ("//aside",)
    assert merged.prune is False  # False is a value, not "unset"
    assert merged.tidy is True
    assert merged.replacements == (("a", "b"),)
    assert merged.origin == "source 'news' + rules/example.com.txt"
    assert SiteRules().merged(SiteRules()) == SiteRules()
    assert file.merged(SiteRules(origin=file.origin)) == file


# -- rules directory -------------------------------------------------------------------


def write(folder: Path, name: str, title: str) -> None:
    (folder / name).write_text(f"title: //h1[@id='{title}']\n", encoding="utf-8")


def titles(directory: RulesDirectory, host: str) -> str | None:
    rules = directory.for_host(host)
    return rules.title[0].split("'")[1] if rules else None


def test_rule_file_names_order() -> None:
    assert rule_file_names("WWW.News.Example.com:8080") == [
        "www.news.example.com.txt",
        "news.example.com.txt",
        ".example.com.txt",
    ]
    assert rule_file_names("a.b.example.co.uk") == [
        "a.b.example.co.uk.txt",
        ".b.example.co.uk.txt",
        ".example.co.uk.txt",
        ".co.uk.txt",
    ]
    assert rule_file_names("example.com") == ["example.com.txt"]
    assert rule_file_names("127.0.0.1:8123") == ["127.0.0.1.txt"]
    assert rule_file_names("../../etc/passwd") == []
    assert rule_file_names("") == []


def test_rules_directory_lookups(tmp_path: Path) -> None:
    write(tmp_path, "example.com.txt", "bare")
    write(tmp_path, "www.example.com.txt", "www")
    write(tmp_path, "example.org.txt", "org")
    write(tmp_path, ".example.net.txt", "wild")
    write(tmp_path, "sport.example.net.txt", "sport")
    directory = RulesDirectory(tmp_path)
    assert titles(directory, "example.com") == "bare"
    assert titles(directory, "www.example.com") == "www"  # exact file first
    assert titles(directory, "WWW.EXAMPLE.ORG:443") == "org"  # then without www.
    assert titles(directory, "news.example.net") == "wild"  # then wildcard parent
    assert titles(directory, "a.b.example.net") == "wild"
    assert titles(directory, "sport.example.net") == "sport"
    assert directory.for_host("example.net") is None  # ftr: wildcard serves subdomains only
    assert directory.for_host("www.example.net") is None
    assert directory.for_host("unknown.test") is None
    rules = directory.for_url("https://user@www.example.org:8443/a?b=c")
    assert rules is not None and rules.origin == str(tmp_path / "example.org.txt")
    assert directory.for_url("not a url") is None


def test_rules_directory_caches_per_host(tmp_path: Path) -> None:
    write(tmp_path, "example.com.txt", "first")
    directory = RulesDirectory(tmp_path)
    first = directory.for_host("example.com")
    write(tmp_path, "example.com.txt", "second")
    assert directory.for_host("example.com") is first
    assert directory.for_host("www.example.com") is first  # the file is parsed once
    assert titles(RulesDirectory(tmp_path), "example.com") == "second"


def test_rules_directory_missing_folder(tmp_path: Path) -> None:
    directory = RulesDirectory(tmp_path / "nope")
    assert directory.for_host("example.com") is None
    assert directory.for_url("https://example.com/") is None


def test_fixture_rules_for_the_test_site() -> None:
    rules = RulesDirectory(FIXTURES / "rules").for_url("http://localhost:45678/article.html")
    assert rules is not None
    assert rules.body == ("//div[@id='story']",)
    assert rules.replacements == (("<br><br>", "</p><p>"),)


def test_shipped_rules_folder_parses_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rules = RulesDirectory(ROOT / "rules").for_host("www.example.com")
    assert rules is not None and rules.title and rules.body and rules.strip and rules.date
    assert rules.prune is False
    assert not caplog.records
    assert (ROOT / "rules" / "README.md").is_file()
