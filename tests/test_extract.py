"""crawler.extract and its helpers: article extraction from fetched pages, in layers."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trafilatura
from lxml import html

import crawler.extract as extract_module
from crawler.extract import clean_title, extract_page, parse_date, parse_document
from crawler.htmlclean import clean_body_html, html_to_text
from crawler.related import MAX_RELATED, find_related
from crawler.siterules import RuleFields, SiteRules
from crawler.structured import read_structured
from feeds.article import RelatedLink

PAGES = Path(__file__).parent / "fixtures" / "pages"
SHANGHAI = ZoneInfo("Asia/Shanghai")
URL = "https://news.example.com/2024/05/13/story.html"


def fixture_page(name: str) -> bytes:
    return gzip.decompress((PAGES / f"{name}.html.gz").read_bytes())


@pytest.fixture
def no_trafilatura(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any generic body extraction fail loudly."""

    def boom(*args: object, **kwargs: object) -> str:
        raise AssertionError("trafilatura must not be called")

    # extract_page calls bare_extraction (extract() without its fingerprint), extract()
    # only with another trafilatura layout: either counts
    monkeypatch.setattr(trafilatura, "extract", boom)
    monkeypatch.setattr(trafilatura, "bare_extraction", boom)


def jsonld_script(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")  # as sites write it
    return f'<script type="application/ld+json">{text}</script>'


def article_page(head: str = "", body: str = "", title: str = "Page title | Example News") -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"{head}</head><body>{body}</body></html>"
    )


LONG_PARAGRAPHS = [
    "The city council voted on Monday to expand the tram network by twelve kilometres, "
    "a decision that had been delayed three times since the plan was first presented.",
    "Supporters said the new line would cut commuting times for forty thousand residents "
    "of the eastern districts, while critics pointed to the rising construction costs.",
    "Work is expected to start next spring and to last about four years, the mayor's "
    "office said in a statement published after the vote.",
]


# --------------------------------------------------------------------------------------
# Real pages (tests/fixtures/pages, from the shared benchmark sets)
# --------------------------------------------------------------------------------------


def test_wayback_gb2312_page() -> None:
    url = (
        "https://web.archive.org/web/20120611024252/"
        "http://www.he.xinhuanet.com/news/2012-06/04/content_25340717.htm"
    )
    page = extract_page(fixture_page("xinhuanet-he-2012-gb2312"), url, tz=SHANGHAI)
    assert page.encoding == "gb18030"
    assert page.encoding_mismatch is False
    assert page.title == "话剧《约定无期限》河北各市巡演结束"
    assert "一个约定，信守15年，感人至深；一段真情，延续15年，催人泪下。" in page.body_text
    assert "引导全市广大青年和中小学生树立正确的世界观、人生观、价值观" in page.body_text
    for boilerplate in ("新华纵横", "金融讲堂", "高端访谈", "查看节目播出时间表"):
        assert boilerplate not in page.body_text
    assert page.published == datetime(2012, 6, 4, 9, 20, 26, tzinfo=SHANGHAI)
    assert page.layers["body"] == "generic"
    assert "<script" not in page.body_html


def test_gbk_page_with_meta_date() -> None:
    url = "http://health.people.com.cn/n1/2024/0517/c14739-40237861.html"
    page = extract_page(fixture_page("people-health-2024-gbk"), url, tz=SHANGHAI)
    assert page.encoding == "gb18030"
    assert page.title == "关注青少年心理健康“心成长”服务项目启动"
    assert "“心成长”青少年心理健康服务项目在北京市青年宫正式启动" in page.body_text
    for boilerplate in ("人民日报社概况", "热门点击排行榜", "登录|注册", "navInit"):
        assert boilerplate not in page.body_text
    # <meta name="publishdate" content="2024-05-17">, time from "2024年05月17日08:59"
    assert page.published == datetime(2024, 5, 17, 8, 59, tzinfo=SHANGHAI)
    assert page.layers["published"] == "meta"
    assert page.summary.startswith("本报讯（记者叶婉）")
    assert "心理服务" in page.categories
    assert page.authors == []  # <meta name="author" content="103553"> is an id, not a name


def test_utf8_chinese_page_generic_layers() -> None:
    url = "http://www.news.cn/fortune/2023-11/17/c_1129981476.htm"
    page = extract_page(fixture_page("news-cn-fortune-2023"), url, tz=SHANGHAI)
    assert page.encoding == "utf-8"
    assert page.title == "短缺药品保供稳价 全力保障临床用药需求"
    assert page.body_text.startswith("新华社北京11月17日电 记者17日从国家卫生健康委获悉")
    assert "推动中药材供需总体平衡" in page.body_text
    for boilerplate in ("阅读下一篇", "责任编辑", "新华全媒头条", "wxfxPic"):
        assert boilerplate not in page.body_text
    assert page.published == datetime(2023, 11, 17, 20, 52, 15, tzinfo=SHANGHAI)
    assert page.layers["published"] == "generic"
    # paragraphs, no indentation kept from the page
    assert page.body_html.startswith("<p>新华社北京")
    assert len(page.body_text.splitlines()) == 4


def test_jsonld_page() -> None:
    url = (
        "https://www.slashgear.com/"
        "the-vw-id-space-vizzion-is-a-weird-ev-sports-wagon-with-a-secret-message-19600475/"
    )
    page = extract_page(fixture_page("slashgear-06ee193d"), url)
    assert page.title == (
        "The VW ID. SPACE VIZZION is a weird EV sports wagon with a secret message"
    )
    assert page.layers["title"] == "jsonld"
    assert page.authors == ["Chris Davies"]
    assert page.published == datetime(2019, 11, 20, 4, 31, 13, tzinfo=timezone(-timedelta(hours=6)))
    assert page.modified is not None and page.modified > page.published
    assert page.publisher == "SlashGear"
    assert page.language == "en-US"
    assert page.image.startswith("https://scdn.slashgear.com/wp-content/uploads/2019/11/")
    assert page.canonical_url == url
    assert page.body_text.startswith("Volkswagen’s first ID.3 all-electric car")
    for boilerplate in ("Search SlashGear", "adsbygoogle", "#gallery-1", "EXPLORE"):
        assert boilerplate not in page.body_text
    # the links of the article's paragraphs are kept, absolute
    assert '<a href="https://www.slashgear.com/vw-id-space-vizzion' in page.body_html


# --------------------------------------------------------------------------------------
# JSON-LD fast path
# --------------------------------------------------------------------------------------


def test_jsonld_article_body_skips_trafilatura(no_trafilatura: None) -> None:
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "@id": "https://news.example.com/#site", "name": "Example"},
            {
                "@type": "Person",
                "@id": "https://news.example.com/#jane",
                "name": "Jane Doe",
            },
            {
                "@type": ["NewsArticle"],
                "headline": "Tram network to grow by twelve kilometres",
                "author": [{"@id": "https://news.example.com/#jane"}, "By John Roe"],
                "datePublished": "2024-05-13T09:30:00",
                "dateModified": "2024-05-13T11:00:00+02:00",
                "image": [{"@type": "ImageObject", "url": "/img/tram.jpg"}],
                "publisher": {"@type": "Organization", "name": "Example News"},
                "description": "The council voted to expand the tram network.",
                "inLanguage": "en_GB",
                "articleSection": "City",
                "keywords": "trams, transport",
                "articleBody": "\n\n".join([*LONG_PARAGRAPHS, "Fish & chips <b>are</b> next."]),
            },
        ],
    }
    head = '<script type="application/ld+json">{"@type": "NewsArticle", broken</script>'
    head += jsonld_script(data)
    page = extract_page(article_page(head, "<p>teaser</p>").encode(), URL, tz=SHANGHAI)
    assert page.layers["body"] == "jsonld"
    assert page.body_text.splitlines()[:3] == LONG_PARAGRAPHS
    # plain text becomes escaped paragraphs
    assert "<p>Fish &amp; chips &lt;b&gt;are&lt;/b&gt; next.</p>" in page.body_html
    assert "Fish & chips <b>are</b> next." in page.body_text
    assert page.title == "Tram network to grow by twelve kilometres"
    assert page.authors == ["Jane Doe", "John Roe"]
    assert page.published == datetime(2024, 5, 13, 9, 30, tzinfo=SHANGHAI)  # naive -> tz
    assert page.modified == datetime(2024, 5, 13, 9, 0, tzinfo=UTC)
    assert page.image == "https://news.example.com/img/tram.jpg"
    assert page.publisher == "Example News"
    assert page.summary == "The council voted to expand the tram network."
    assert page.language == "en-GB"
    assert page.categories == ["City", "trams", "transport"]
    assert {page.layers[f] for f in ("title", "authors", "published", "image")} == {"jsonld"}


def test_jsonld_teaser_body_falls_back_to_trafilatura(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    real = trafilatura.bare_extraction

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", spy)
    data = {
        "@type": "Article",
        "headline": "Tram network",
        "articleBody": LONG_PARAGRAPHS[0][:120] + "…",
    }
    body = "<article>" + "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS * 2) + "</article>"
    page = extract_page(article_page(jsonld_script(data), body).encode(), URL)
    assert calls, "a truncated articleBody is a teaser: generic extraction must run"
    assert page.layers["body"] == "generic"
    assert LONG_PARAGRAPHS[2] in page.body_text


def test_jsonld_html_article_body_is_cleaned(no_trafilatura: None) -> None:
    body_html = "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS)
    body_html += '<script>alert(1)</script><p><img src="/a.jpg" onerror="x()"></p>'
    data = [{"@type": "BlogPosting", "headline": "H", "articleBody": body_html}]
    page = extract_page(article_page(jsonld_script(data)).encode(), URL)
    assert page.layers["body"] == "jsonld"
    assert "alert" not in page.body_html and "onerror" not in page.body_html
    assert '<img src="https://news.example.com/a.jpg">' in page.body_html


# --------------------------------------------------------------------------------------
# OpenGraph / <meta>
# --------------------------------------------------------------------------------------


def test_opengraph_fields_and_dates() -> None:
    head = (
        '<meta property="og:title" content="Tram network to grow">'
        '<meta property="og:description" content="Council vote.">'
        '<meta property="og:image" content="/img/og.jpg">'
        '<meta property="og:site_name" content="Example News">'
        '<meta property="article:published_time" content="2024-05-13T09:16:04+08:00">'
        '<meta property="article:modified_time" content="2024-05-14T10:00:00Z">'
        '<meta property="article:author" content="https://facebook.com/someone">'
        '<meta name="author" content="Jane Doe">'
        '<meta property="article:section" content="City">'
        '<meta property="article:tag" content="trams">'
        '<link rel="canonical" href="/2024/05/13/story.html">'
    )
    body = "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS)
    page = extract_page(article_page(head, body).encode(), URL + "?utm_source=x")
    assert page.published == datetime(2024, 5, 13, 1, 16, 4, tzinfo=UTC)
    assert page.modified == datetime(2024, 5, 14, 10, 0, tzinfo=UTC)
    assert page.title == "Tram network to grow"
    assert page.summary == "Council vote."
    assert page.image == "https://news.example.com/img/og.jpg"
    assert page.publisher == "Example News"
    assert page.authors == ["Jane Doe"]  # a profile URL is not a name
    assert page.categories == ["City", "trams"]
    assert page.canonical_url == URL
    assert page.language == "en"
    assert {page.layers[f] for f in ("published", "modified", "title", "summary")} == {"meta"}


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ('<meta name="publishdate" content="2024-05-10">', datetime(2024, 5, 10)),
        ('<meta name="PubDate" content="2024-05-10 08:30:00">', datetime(2024, 5, 10, 8, 30)),
        ('<meta name="pubdate" content="2024/05/10 08:30">', datetime(2024, 5, 10, 8, 30)),
        ('<meta name="publish-date" content="2024年5月10日">', datetime(2024, 5, 10)),
    ],
)
def test_meta_publication_dates_take_the_source_time_zone(meta: str, expected: datetime) -> None:
    body = "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS)
    page = extract_page(article_page(meta, body).encode(), URL, tz=SHANGHAI)
    assert page.published == expected.replace(tzinfo=SHANGHAI)
    assert page.layers["published"] == "meta"


def test_generic_title_loses_the_site_suffix() -> None:
    body = "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS)
    page = extract_page(
        article_page(
            "", body, title="Tram network to grow by twelve kilometres | Example"
        ).encode(),
        URL,
    )
    assert page.title == "Tram network to grow by twelve kilometres"
    assert page.layers["title"] == "generic"


# --------------------------------------------------------------------------------------
# Site rules
# --------------------------------------------------------------------------------------


def test_rules_layer_wins_over_jsonld(
    monkeypatch: pytest.MonkeyPatch, no_trafilatura: None
) -> None:
    seen: list[tuple[object, str]] = []

    def fake_apply_rules(
        root: html.HtmlElement, rules: SiteRules, base_url: str, **options: object
    ) -> RuleFields:
        seen.append((rules, base_url))
        return RuleFields(
            title="Title from the rules",
            body_html='<div class="story"><p>Rule body paragraph.</p><script>x()</script></div>',
            date="2024-01-02 03:04",
            authors=["Rule Author"],
            related=[RelatedLink("Other story", "https://news.example.com/other.html")],
        )

    monkeypatch.setattr(extract_module, "apply_rules", fake_apply_rules)
    data = {
        "@type": "NewsArticle",
        "headline": "Title from JSON-LD",
        "author": "JSON-LD Author",
        "datePublished": "2023-12-31T00:00:00Z",
        "articleBody": "\n".join(LONG_PARAGRAPHS),
    }
    rules = SiteRules(title=("//h1",), body=("//div[@class='story']",))
    page = extract_page(article_page(jsonld_script(data)).encode(), URL, rules=rules, tz=SHANGHAI)
    assert seen == [(rules, URL)]
    assert page.title == "Title from the rules"
    assert page.body_html == "<p>Rule body paragraph.</p>"
    assert page.body_text == "Rule body paragraph."
    assert page.authors == ["Rule Author"]
    assert page.published == datetime(2024, 1, 2, 3, 4, tzinfo=SHANGHAI)
    assert page.related == [RelatedLink("Other story", "https://news.example.com/other.html")]
    assert {page.layers[f] for f in ("title", "body", "authors", "published", "related")} == {
        "rules"
    }


def test_real_site_rules_win_over_jsonld(no_trafilatura: None) -> None:
    data = {
        "@type": "NewsArticle",
        "headline": "JSON-LD title",
        "articleBody": "\n".join(LONG_PARAGRAPHS),
    }
    body = (
        "<h1 class='headline'>Rules title</h1><span class='time'>2024-01-02 03:04</span>"
        "<span class='by'>Rule Author</span><div class='story'><p>Rule body paragraph.</p>"
        "<div class='share'>Share this</div><script>x()</script></div>"
    )
    rules = SiteRules(
        title=("//h1[@class='headline']",),
        body=("//div[@class='story']",),
        date=("//span[@class='time']",),
        author=("//span[@class='by']",),
        strip_id_or_class=("share",),
    )
    page = extract_page(
        article_page(jsonld_script(data), body).encode(), URL, rules=rules, tz=SHANGHAI
    )
    assert page.title == "Rules title"
    assert page.body_html == "<p>Rule body paragraph.</p>"
    assert page.authors == ["Rule Author"]
    assert page.published == datetime(2024, 1, 2, 3, 4, tzinfo=SHANGHAI)
    assert {page.layers[f] for f in ("title", "body", "authors", "published")} == {"rules"}


def test_rules_not_implemented_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_yet(
        root: html.HtmlElement, rules: SiteRules, base_url: str, **options: object
    ) -> RuleFields:
        raise NotImplementedError

    monkeypatch.setattr(extract_module, "apply_rules", not_yet)
    data = {
        "@type": "NewsArticle",
        "headline": "JSON-LD title",
        "articleBody": "\n".join(LONG_PARAGRAPHS),
    }
    page = extract_page(article_page(jsonld_script(data)).encode(), URL, rules=SiteRules())
    assert page.title == "JSON-LD title"
    assert page.layers["body"] == "jsonld"


# --------------------------------------------------------------------------------------
# Generic body: trafilatura selects, the page gives links and images back
# --------------------------------------------------------------------------------------


def test_generic_body_keeps_links_and_images_of_the_article() -> None:
    body = (
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav>"
        "<article><h1>Tram network to grow</h1>"
        f"<p>{LONG_PARAGRAPHS[0]} <a href='/council'>council</a> said.</p>"
        "<figure><img src='/img/tram.jpg' width='800'><figcaption>A tram.</figcaption></figure>"
        f"<p>{LONG_PARAGRAPHS[1]}</p><p>{LONG_PARAGRAPHS[2]}</p></article>"
        "<footer><p>Copyright Example News 2024. All rights reserved.</p></footer>"
    )
    page = extract_page(article_page("", body).encode(), URL)
    assert page.layers["body"] == "generic"
    assert '<a href="https://news.example.com/council">council</a>' in page.body_html
    assert '<img src="https://news.example.com/img/tram.jpg"' in page.body_html
    assert "<figcaption>A tram.</figcaption>" in page.body_html
    assert "A tram." not in page.body_text  # captions are not running text
    assert LONG_PARAGRAPHS[2] in page.body_text
    assert "Copyright" not in page.body_text
    assert page.image == "https://news.example.com/img/tram.jpg"


def test_empty_and_non_html_bodies() -> None:
    assert extract_page(b"", URL).body_text == ""
    page = extract_page(b"   ", URL)
    assert (page.title, page.body_html, page.published) == ("", "", None)


# --------------------------------------------------------------------------------------
# HTML cleaning
# --------------------------------------------------------------------------------------


def test_clean_body_html_removes_everything_executable() -> None:
    fragment = (
        "<html><body><div onclick='steal()'>"
        "<p style='color:red' class='x'>Hello <a href='javascript:alert(1)'>js</a> "
        "<a href='/about' onmouseover='x()'>about</a></p>"
        "<script>alert(1)</script><style>p{}</style><noscript>no</noscript>"
        "<iframe src='https://evil.example/'></iframe><object data='x.swf'></object>"
        "<embed src='x.swf'><!-- a comment -->"
        "<form action='/subscribe'><input name='email'><button>Go</button>"
        "<select><option>1</option></select><textarea>t</textarea></form>"
        "<img src='pic.jpg' onload='x()'>"
        "<img src='data:image/gif;base64,R0lGOD' data-src='/lazy/real.jpg'>"
        "<img data-original='lazy2.png'>"
        "<img src='https://t.example/p.gif' width='1' height='1'>"
        "<img src='https://www.google-analytics.com/collect?x=1'>"
        "<img src='a.jpg' srcset='a-1x.jpg 1x, /b-2x.jpg 2x'>"
        "</div></body></html>"
    )
    cleaned = clean_body_html(fragment, "https://ex.com/news/1.html")
    for gone in (
        "script",
        "alert",
        "steal",
        "onload",
        "onmouseover",
        "javascript:",
        "style",
        "noscript",
        "iframe",
        "object",
        "embed",
        "comment",
        "form",
        "input",
        "button",
        "select",
        "textarea",
        "class=",
        "<html",
        "<body",
        "p.gif",
        "google-analytics",
    ):
        assert gone not in cleaned, gone
    assert '<a href="https://ex.com/about">about</a>' in cleaned
    assert "Hello js" in cleaned  # the javascript: link is unwrapped, its text stays
    assert '<img src="https://ex.com/news/pic.jpg">' in cleaned
    assert '<img src="https://ex.com/lazy/real.jpg">' in cleaned
    assert '<img src="https://ex.com/news/lazy2.png">' in cleaned
    assert 'srcset="https://ex.com/news/a-1x.jpg 1x, https://ex.com/b-2x.jpg 2x"' in cleaned


def test_clean_body_html_keeps_structure_and_makes_div_paragraphs() -> None:
    fragment = (
        "<section><h1>Head</h1><div>First <em>para</em></div><div><span>Second</span></div>"
        "<ul><li>one</li><li>two</li></ul><blockquote>quote</blockquote>"
        "<table><tr><td>a</td><td>b</td></tr></table><p></p><table><tr><td> </td></tr></table>"
        "</section>"
    )
    cleaned = clean_body_html(fragment, "https://ex.com/")
    assert cleaned == (
        "<h2>Head</h2><p>First <em>para</em></p><p>Second</p>"
        "<ul><li>one</li><li>two</li></ul><blockquote>quote</blockquote>"
        "<table><tr><td>a</td><td>b</td></tr></table>"
    )
    assert html_to_text(cleaned) == "Head\nFirst para\nSecond\none\ntwo\nquote\na b"


def test_clean_body_html_of_nothing() -> None:
    assert clean_body_html("", "https://ex.com/") == ""
    assert clean_body_html("<script>x()</script>", "https://ex.com/") == ""


# --------------------------------------------------------------------------------------
# Related links
# --------------------------------------------------------------------------------------


def test_related_links_after_a_chinese_heading() -> None:
    body = (
        "<div class='nav'><a href='/'>首页</a><a href='/news/'>新闻</a></div>"
        "<div class='article'><p>正文第一段，提到<a href='/a/0.html'>相关新闻报道</a>。</p></div>"
        "<h3>相关阅读</h3><ul>"
        "<li><a href='/a/1.html'>城市有轨电车之困：一边争相上马</a></li>"
        "<li><a href='https://other.example.cn/a/2.html#top'>全国铁路今日预计发送旅客</a></li>"
        "<li><a href='/a/1.html'>城市有轨电车之困：一边争相上马</a></li>"
        f"<li><a href='{URL}'>本页自己的标题也在列表里</a></li>"
        "<li><a href='javascript:void(0)'>点击这里加载更多内容</a></li>"
        "<li><a href='/a/3.html'>更多</a></li></ul>"
    )
    root = html.document_fromstring(article_page("", body))
    related = find_related(root, URL)
    assert related == [
        RelatedLink("城市有轨电车之困：一边争相上马", "https://news.example.com/a/1.html"),
        RelatedLink("全国铁路今日预计发送旅客", "https://other.example.cn/a/2.html"),
    ]


def test_related_links_from_named_blocks_and_extract_page() -> None:
    links = "".join(
        f"<li><a href='/2024/05/{i:02d}/story-{i}.html'>Another story number {i} today</a></li>"
        for i in range(30)
    )
    body = (
        "<article>" + "".join(f"<p>{p}</p>" for p in LONG_PARAGRAPHS) + "</article>"
        f"<aside class='related-articles'><ul>{links}</ul></aside>"
    )
    root = html.document_fromstring(article_page("", body))
    related = find_related(root, URL, exclude_urls=["/2024/05/00/story-0.html"])
    assert len(related) == MAX_RELATED
    assert related[0] == RelatedLink(
        "Another story number 1 today", "https://news.example.com/2024/05/01/story-1.html"
    )
    page = extract_page(article_page("", body).encode(), URL)
    assert page.layers["related"] == "generic"
    assert page.related[0].url == "https://news.example.com/2024/05/00/story-0.html"
    assert "Another story" not in page.body_text


def test_no_related_links_in_running_text() -> None:
    body = (
        "<p>Related to this, the council also said more from the budget would go to buses, "
        "see <a href='/budget.html'>the budget plan for the whole city</a>.</p>"
    )
    root = html.document_fromstring(article_page("", body))
    assert find_related(root, URL) == []


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-13T09:16:04+08:00", datetime(2024, 5, 13, 1, 16, 4, tzinfo=UTC)),
        ("2024-05-13T09:16:04Z", datetime(2024, 5, 13, 9, 16, 4, tzinfo=UTC)),
        ("2024-05-13", datetime(2024, 5, 13, tzinfo=SHANGHAI)),
        ("2024年05月13日 08:01", datetime(2024, 5, 13, 8, 1, tzinfo=SHANGHAI)),
        ("2024/5/13 8:01:02", datetime(2024, 5, 13, 8, 1, 2, tzinfo=SHANGHAI)),
        ("Mon, 18 Nov 2019 10:00:00 GMT", datetime(2019, 11, 18, 10, tzinfo=UTC)),
        ("Nov 18, 2019 10:30 PM", datetime(2019, 11, 18, 22, 30, tzinfo=SHANGHAI)),
        ("18 November 2019", datetime(2019, 11, 18, tzinfo=SHANGHAI)),
        ("1715563200", datetime(2024, 5, 13, 1, 20, tzinfo=UTC)),
    ],
)
def test_parse_date(text: str, expected: datetime) -> None:
    parsed = parse_date(text, SHANGHAI)
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-45", "1850-01-01", "2999-01-01"])
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("title", "sites", "url", "expected"),
    [
        (
            "Tram network to grow by twelve kilometres | Example",
            (),
            "",
            "Tram network to grow by twelve kilometres",
        ),
        (
            "城市有轨电车之困：一边争相上马，一边接连叫停_新闻_新浪网",
            (),
            "",
            "城市有轨电车之困：一边争相上马，一边接连叫停",
        ),
        (
            "WSJ - Stadia, xCloud and Arcade: so many ways",
            (),
            "https://www.wsj.com/a",
            "Stadia, xCloud and Arcade: so many ways",
        ),
        (
            "Brexit - what happens next in the talks",
            (),
            "https://www.bbc.co.uk/x",
            "Brexit - what happens next in the talks",
        ),
        ("Story title — Example News", ("Example News",), "", "Story title"),
    ],
)
def test_clean_title(title: str, sites: tuple[str, ...], url: str, expected: str) -> None:
    assert clean_title(title, sites, url=url) == expected


def test_structured_data_tolerates_broken_json() -> None:
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle",, }</script>'
        '<script type="application/ld+json">\n{"@type": "NewsArticle", "headline": "Line\nbreak",'
        ' "author": {"@type": "Person", "name": "A"},}\n</script>'
    )
    data = read_structured(parse_document(article_page(head)), URL)
    assert data.jsonld.title == "Line break"
    assert data.jsonld.authors == ["A"]


@pytest.mark.parametrize("name", ["news-cn-fortune-2023", "slashgear-06ee193d"])
def test_trafilatura_call_matches_extract(name: str) -> None:
    """_trafilatura skips extract()'s fingerprint only: the HTML it returns is the same."""
    root = parse_document(fixture_page(name).decode("utf-8", "replace"))
    assert root is not None
    for fast in (True, False):
        expected = trafilatura.extract(
            root, url=URL, fast=fast, **extract_module.TRAFILATURA_OPTIONS
        )
        assert expected
        assert extract_module._trafilatura(root, URL, fast=fast) == expected


@pytest.mark.parametrize(
    "text",
    [
        "First paragraph & more <b>not a tag</b>\n\n  second\u3000段落，中文。 ",
        "a < b > c &amp;amp; d\r\nline\u2028another\u00a0one",
        "control\x0ccharacter\x01 goes the long way",
        "",
    ],
)
def test_plain_jsonld_body_same_as_parsing_it(text: str) -> None:
    """The JSON-LD plain-text body is built without a parse, with the parse's result."""
    expected = extract_module._finish_body(extract_module._plain_paragraphs(text), URL)
    fast = extract_module._plain_body(text)
    if fast is not None:
        assert fast == expected
    else:
        assert "\x0c" in text
