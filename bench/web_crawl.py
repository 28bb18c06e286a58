"""Web crawl speed: a generated news site served by nginx, feedmill against bare Scrapy.

    python bench/web_crawl.py [--pages N] [--quick] [--json OUT]

Generates a news site of N article pages (default 2,000; ``--quick``: 150) in a temp dir:
listing pages ``/list/K.html`` with 20 article links each and ``<a class="next">``
pagination; article pages of 30-55 KB (nav, header, ``<div class="article-body">`` with
Chinese/English paragraphs, sidebars full of links, footer), a third of them with a JSON-LD
NewsArticle carrying the whole ``articleBody``. nginx serves it (a generated config, one
worker, ``etag on``, an access log in the temp dir). Every crawl is a child process with
``AUTOTHROTTLE_ENABLED=0 CONCURRENT_REQUESTS=16 CONCURRENT_REQUESTS_PER_DOMAIN=16
LOG_LEVEL=WARNING ROBOTSTXT_OBEY=0``; CPU is the RUSAGE_CHILDREN delta, pages/s is article
pages over the child's wall time (process start included, as for a scheduled crawl):

- (a) bare Scrapy: ``scrapy runspider`` of a spider that follows pagination and article
  links and yields ``{"url": ...}``;
- (b) the same + ``trafilatura.extract(response.text)`` per article;
- (c) feedmill, web source with site rules (``title = "h1"``, ``body = "div.article-body"``)
  via ``python -m crawler.run``; target ≥ 0.75x (a);
- (d) feedmill, the same source without rules (generic extraction; JSON-LD pages take the
  structured-data fast path); target ≥ 1.0x (b). What the fast path buys is shown in
  process: ``extract_page`` on the JSON-LD pages against the same pages with the JSON-LD
  removed (median ms/page, best of 3 each);
- (e) (c) again, unchanged site, same store: CPU as % of (c) (target ≤ 5%), article pages
  downloaded (from nginx's access log; target 0), listing pages answered 304 (target all).
  A refresh is mostly the cost of a new process (Python, Scrapy, the engine, the store),
  which the scheduler amortises by batching sources into one child; so the same is
  measured for a source of one empty listing page (its second, unchanged run in its own
  store: the "new-process floor"), and the refresh minus that floor is reported as what
  the crawl itself costs;
- (f) peak RSS of the feedmill crawl children of (c) and (d) (``ru_maxrss`` from
  ``os.wait4`` on each child; target < 300 MB), bare Scrapy's as the baseline.

Exit status 2 when nginx is missing. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from common import ROOT, Timing, clean_env, print_table, ratio, write_json
from serving import run_nginx

from crawler.extract import extract_page
from feeds.store import SQLiteStore

LINKS_PER_LISTING = 20
TARGET_RULES = 0.75
TARGET_GENERIC = 1.0
TARGET_REFRESH_PCT = 5.0
TARGET_PEAK_RSS_MB = 300.0
FAIR = [
    *("-s", "AUTOTHROTTLE_ENABLED=0", "-s", "CONCURRENT_REQUESTS=16"),
    *("-s", "CONCURRENT_REQUESTS_PER_DOMAIN=16", "-s", "LOG_LEVEL=WARNING"),
    *("-s", "ROBOTSTXT_OBEY=0"),
]

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$status $request_uri';
    access_log {prefix}/access.log bench;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    keepalive_requests 1000000;
    types {{ text/html html; text/plain txt; }}
    charset utf-8;
    server {{
        listen 127.0.0.1:{port};
        root {site};
        etag on;
        open_file_cache max=10000 inactive=60s;
        sendfile on;
    }}
}}
"""

BARE_SPIDER = """\
import scrapy


class Bare(scrapy.Spider):
    name = "bare"

    def __init__(self, start, extract="0", **kwargs):
        super().__init__(**kwargs)
        self.start_url = start
        self.do_extract = extract == "1"

    async def start(self):
        yield scrapy.Request(self.start_url, callback=self.parse_listing)

    def parse_listing(self, response):
        for href in response.css("ul.articles a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_article)
        next_page = response.css("a.next::attr(href)").get()
        if next_page:
            yield response.follow(next_page, callback=self.parse_listing)

    def parse_article(self, response):
        item = {"url": response.url}
        if self.do_extract:
            import trafilatura

            item["text"] = trafilatura.extract(response.text)
        yield item
"""

CONFIG = """\
[service]
base_url = "http://127.0.0.1:8080"
title = "bench"
feed_size = 50

[sources.{name}]
kind = "web"
title = "bench site"
start_urls = ["{start}"]
article_links = "ul.articles a"
next_page = "a.next"
max_pages = {max_pages}
max_articles = {max_articles}
{rules}"""
RULES = 'rules = { title = "h1", body = "div.article-body" }\n'

# -- the site ----------------------------------------------------------------------------

ZH_TEXT = (
    "经济 发展 城市 政府 记者 表示 今年 项目 企业 市场 技术 创新 服务 社会 文化 教育 "
    "医疗 交通 环境 保护 建设 推进 改革 开放 农村 居民 收入 增长 政策 支持 数据 显示 "
    "全国 地区 工作 会议 提出 加快 完善 体系 提高 质量 安全 生产 消费 投资 合作 国际"
)
EN_TEXT = (
    "the city council said on tuesday that new investment in public transport would "
    "improve air quality and reduce travel times for residents while officials expect "
    "growth in local business activity after the reform of market rules and data policy"
)
ZH, EN = ZH_TEXT.split(), EN_TEXT.split()


def _paragraph_pool(rng: random.Random, size: int = 400) -> list[str]:
    pool = []
    for i in range(size):
        if i % 3 == 2:
            words = [rng.choice(EN) for _ in range(rng.randint(60, 120))]
            text = " ".join(words).capitalize() + "."
        else:
            parts = ["".join(rng.choice(ZH) for _ in range(rng.randint(4, 9))) for _ in range(8)]
            text = "，".join(parts) + "。" + "".join(rng.choice(ZH) for _ in range(20)) + "。"
        pool.append(text)
    return pool


def _chrome(rng: random.Random, i: int, pages: int) -> tuple[str, str, str]:
    nav = "".join(f'<li><a href="/section/{k}.html">栏目 Section {k}</a></li>' for k in range(24))
    header = (
        f'<header class="site-header"><div class="logo"><a href="/">Bench News 新闻网</a></div>'
        f'<nav class="main-nav"><ul>{nav}</ul></nav>'
        '<form class="search" action="/search"><input name="q"><button>搜索</button></form>'
        "</header>"
    )
    side = "".join(
        f'<li><a href="/article/{rng.randrange(pages):06d}.html">'
        f"{''.join(rng.choice(ZH) for _ in range(6))} {rng.choice(EN)} {k}</a></li>"
        for k in range(30)
    )
    tags = "".join(f'<a href="/tag/{k}.html" class="tag">标签{k}</a> ' for k in range(20))
    sidebar = (
        f'<aside class="sidebar"><h3>热门文章 Most read</h3><ul class="hot">{side}</ul>'
        f'<div class="tags">{tags}</div><div class="ad">广告 Advertisement</div></aside>'
    )
    links = "".join(f'<a href="/about/{k}.html">关于我们 {k}</a> | ' for k in range(15))
    footer = (
        f'<footer class="site-footer"><p>{links}</p><p>版权所有 © 2024 Bench News. '
        "All rights reserved. 京ICP备00000000号</p></footer>"
    )
    return header, sidebar, footer


def _article(rng: random.Random, pool: list[str], i: int, pages: int) -> str:
    header, sidebar, footer = _chrome(rng, i, pages)
    jsonld = i % 3 == 0
    title = f"第{i + 1}号新闻：{''.join(rng.choice(ZH) for _ in range(5))} Bench story {i + 1}"
    day = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{8 + i % 12:02d}:{i % 60:02d}:00+08:00"
    target = rng.randint(30_000, 55_000)
    base = len((header + sidebar + footer).encode()) + 1500
    paragraphs: list[str] = []
    size = 0
    for text in rng.sample(pool, len(pool)):
        if base + size * (2 if jsonld else 1) >= target:
            break
        text = f"{text} ({i + 1}-{len(paragraphs) + 1})"
        paragraphs.append(text)
        size += len(text.encode()) + 7
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    script = ""
    if jsonld:
        data = {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": title,
            "datePublished": day,
            "author": {"@type": "Person", "name": "Bench Reporter"},
            "articleBody": "\n".join(paragraphs),
        }
        script = (
            '<script type="application/ld+json">'
            + json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
            + "</script>"
        )
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title} - Bench News</title>"
        f'<meta property="article:published_time" content="{day}">'
        f'<meta name="description" content="{paragraphs[0][:120]}">{script}'
        '<link rel="stylesheet" href="/static/site.css"></head><body>'
        f'{header}<main><article><h1>{title}</h1><div class="meta">'
        f'<time datetime="{day}">{day[:10]}</time> <span class="author">Bench Reporter</span>'
        f'</div><div class="article-body">{body}</div>'
        '<div class="share"><a href="/share/weibo">微博</a> <a href="/share/wechat">微信</a></div>'
        f"</article>{sidebar}</main>{footer}</body></html>"
    )


def make_site(site: Path, pages: int, seed: int = 1) -> int:
    """Write the site; returns the number of listing pages."""
    rng = random.Random(seed)
    pool = _paragraph_pool(rng)
    (site / "list").mkdir(parents=True)
    (site / "article").mkdir()
    (site / "robots.txt").write_text("User-agent: *\nAllow: /\n", encoding="utf-8")
    for i in range(pages):
        html = _article(rng, pool, i, pages)
        (site / "article" / f"{i:06d}.html").write_text(html, encoding="utf-8")
    listings = (pages + LINKS_PER_LISTING - 1) // LINKS_PER_LISTING
    for k in range(1, listings + 1):
        first = (k - 1) * LINKS_PER_LISTING
        items = "".join(
            f'<li><a href="/article/{i:06d}.html">新闻 Bench story {i + 1}</a></li>'
            for i in range(first, min(first + LINKS_PER_LISTING, pages))
        )
        nxt = f'<a class="next" href="/list/{k + 1}.html">下一页 Next</a>' if k < listings else ""
        html = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>List</title></head><body>'
            f'<ul class="articles">{items}</ul><div class="pager">{nxt}</div></body></html>'
        )
        (site / "list" / f"{k}.html").write_text(html, encoding="utf-8")
    # the listing of the new-process floor source: no article links
    (site / "list" / "empty.html").write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>List</title></head><body>'
        '<ul class="articles"></ul></body></html>',
        encoding="utf-8",
    )
    return listings


# -- nginx and its access log --------------------------------------------------------------


@contextmanager
def nginx_site(workdir: Path, site: Path, nginx: str) -> Iterator[tuple[str, Path]]:
    with run_nginx(workdir, NGINX_CONF, "/robots.txt", nginx, site=site) as (base, prefix):
        yield base, prefix / "access.log"


class AccessLog:
    """Counts the requests logged since the last ``mark()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def counts(self) -> dict[str, int]:
        time.sleep(0.2)  # nginx writes each line on completion; let the last ones land
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            lines = handle.read().decode("latin-1").splitlines()
        out = {"articles": 0, "articles_200": 0, "listings": 0, "listings_304": 0}
        for line in lines:
            status, _, uri = line.partition(" ")
            if uri.startswith("/article/"):
                out["articles"] += 1
                out["articles_200"] += status == "200"
            elif uri.startswith("/list/"):
                out["listings"] += 1
                out["listings_304"] += status == "304"
        return out


# -- the crawls --------------------------------------------------------------------------


def run_child(
    args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 900
) -> tuple[Timing, float]:
    """Run a child to completion: its wall time, its CPU and its peak RSS in MB, both from
    ``os.wait4`` on that child alone (nginx and earlier runs do not blur them).

    Raises RuntimeError with the child's stderr tail when it exits non-zero.
    """
    with tempfile.TemporaryFile() as err:
        wall0 = time.perf_counter()
        process = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = wall0 + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - wall0
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{' '.join(args)} exited {process.returncode}:\n{tail}")
    # ru_maxrss is in KiB on Linux
    return Timing(wall, usage.ru_utime + usage.ru_stime), usage.ru_maxrss / 1024


def run_bare(work: Path, base: str, log: AccessLog, pages: int, extract: bool) -> dict:
    spider = work / "bare_spider.py"
    spider.write_text(BARE_SPIDER, encoding="utf-8")
    command = [sys.executable, "-m", "scrapy", "runspider", str(spider)]
    command += ["-a", f"start={base}/list/1.html", "-a", f"extract={int(extract)}", *FAIR]
    command += ["-s", "TELNETCONSOLE_ENABLED=0"]
    log.mark()
    timing, rss = run_child(command, env=clean_env(), cwd=work)
    seen = log.counts()
    if seen["articles_200"] != pages:
        raise RuntimeError(f"bare Scrapy fetched {seen['articles_200']} of {pages} articles")
    return {
        "wall_s": timing.wall,
        "cpu_s": timing.cpu,
        "pages_per_s": pages / timing.wall,
        "peak_rss_mb": rss,
        **seen,
    }


def run_feedmill(
    work: Path, name: str, base: str, log: AccessLog, pages: int, listings: int, rules: bool
) -> dict:
    """A first run on a fresh store; with ``rules``, also an unchanged second run."""
    work.mkdir(parents=True)
    config = work / "feedmill.toml"
    config.write_text(
        CONFIG.format(
            name=name,
            start=f"{base}/list/1.html",
            max_pages=min(1000, listings + 1),
            max_articles=pages,
            rules=RULES if rules else "",
        ),
        encoding="utf-8",
    )
    data = work / "data"
    env = clean_env(FEEDMILL_CONFIG=str(config), FEEDMILL_DATA_DIR=str(data))
    command = [sys.executable, "-m", "crawler.run", name, *FAIR]
    log.mark()
    first, rss = run_child(command, env=env, cwd=ROOT)
    seen = log.counts()
    with SQLiteStore(data / "feedmill.sqlite3") as store:
        stored = store.counts().get(name, 0)
    if stored != pages:
        raise RuntimeError(f"feedmill ({name}) stored {stored} of {pages} articles")
    result = {
        "wall_s": first.wall,
        "cpu_s": first.cpu,
        "pages_per_s": pages / first.wall,
        "peak_rss_mb": rss,
        "stored": stored,
        **seen,
    }
    if rules:
        log.mark()
        second, _ = run_child(command, env=env, cwd=ROOT)
        again = log.counts()
        result["refresh"] = {
            "wall_s": second.wall,
            "cpu_s": second.cpu,
            "cpu_pct": 100.0 * ratio(second.cpu, first.cpu),
            **again,
        }
    return result


def run_floor(work: Path, base: str, log: AccessLog) -> dict:
    """The new-process floor: a source of one listing page without links, in a store of its
    own, run twice; the second (unchanged) run is what any refresh costs before it has
    crawled anything (Python, Scrapy, the engine, the store, one 304, an empty feed)."""
    work.mkdir(parents=True)
    config = work / "feedmill.toml"
    config.write_text(
        CONFIG.format(
            name="floor", start=f"{base}/list/empty.html", max_pages=1, max_articles=1, rules=""
        ),
        encoding="utf-8",
    )
    env = clean_env(FEEDMILL_CONFIG=str(config), FEEDMILL_DATA_DIR=str(work / "data"))
    command = [sys.executable, "-m", "crawler.run", "floor", *FAIR]
    run_child(command, env=env, cwd=ROOT)
    log.mark()
    timing, rss = run_child(command, env=env, cwd=ROOT)
    return {"wall_s": timing.wall, "cpu_s": timing.cpu, "peak_rss_mb": rss, **log.counts()}


_JSONLD = re.compile(r'<script type="application/ld\+json">.*?</script>', re.S)


def fast_path(site: Path, sample: int = 30) -> dict:
    """extract_page (generic) on JSON-LD pages, with and without their JSON-LD."""
    files = sorted((site / "article").glob("*.html"))[::3][:sample]

    def best(body: bytes, url: str) -> tuple[float, str]:
        times, layer = [], ""
        for _ in range(3):
            start = time.perf_counter()
            page = extract_page(body, url)
            times.append(time.perf_counter() - start)
            layer = page.layers.get("body", "")
        return min(times) * 1000, layer

    with_ld, without_ld, layers = [], [], {"with": {}, "without": {}}
    for path in files:
        raw = path.read_bytes()
        url = f"http://127.0.0.1/article/{path.name}"
        ms, layer = best(raw, url)
        with_ld.append(ms)
        layers["with"][layer] = layers["with"].get(layer, 0) + 1
        stripped = _JSONLD.sub("", raw.decode("utf-8")).encode("utf-8")
        ms, layer = best(stripped, url)
        without_ld.append(ms)
        layers["without"][layer] = layers["without"].get(layer, 0) + 1
    return {
        "pages": len(files),
        "jsonld_ms": statistics.median(with_ld),
        "no_jsonld_ms": statistics.median(without_ld),
        "body_layers": layers,
    }


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000, help="article pages (default 2000)")
    parser.add_argument("--quick", action="store_true", help="150 article pages")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    pages = 150 if args.quick else max(LINKS_PER_LISTING, args.pages)
    nginx = find_nginx()
    if not nginx:
        print("web crawl benchmark needs nginx (Debian: apt-get install -y nginx)", file=sys.stderr)
        return 2

    results: dict[str, object] = {"pages": pages}
    with tempfile.TemporaryDirectory(prefix="feedmill-web-") as tmp:
        root = Path(tmp)
        site = root / "site"
        listings = make_site(site, pages)
        sizes = [p.stat().st_size for p in (site / "article").glob("*.html")]
        results["listings"] = listings
        results["article_kb"] = {"min": min(sizes) / 1024, "max": max(sizes) / 1024}
        with nginx_site(root, site, nginx) as (base, access):
            log = AccessLog(access)
            (root / "bare").mkdir()
            bare = run_bare(root / "bare", base, log, pages, extract=False)
            trafil = run_bare(root / "bare", base, log, pages, extract=True)
            fm_rules = run_feedmill(root / "rules", "siterules", base, log, pages, listings, True)
            fm_generic = run_feedmill(
                root / "generic", "generic", base, log, pages, listings, False
            )
            floor = run_floor(root / "floor", base, log)
        results["fast_path"] = fast_path(site)
    results.update(
        bare=bare,
        bare_trafilatura=trafil,
        feedmill_rules=fm_rules,
        feedmill_generic=fm_generic,
        process_floor=floor,
    )

    refresh = fm_rules["refresh"]
    crawl_cpu = max(0.0, refresh["cpu_s"] - floor["cpu_s"])
    refresh["crawl_cpu_s"] = crawl_cpu
    refresh["crawl_cpu_pct"] = 100.0 * ratio(crawl_cpu, fm_rules["cpu_s"])
    peak = max(fm_rules["peak_rss_mb"], fm_generic["peak_rss_mb"])
    bare_peak = max(bare["peak_rss_mb"], trafil["peak_rss_mb"])
    fp = results["fast_path"]
    r_rules = ratio(fm_rules["pages_per_s"], bare["pages_per_s"])
    r_generic = ratio(fm_generic["pages_per_s"], trafil["pages_per_s"])
    rows = [
        [
            "site rules: pages/s vs bare Scrapy",
            fm_rules["pages_per_s"],
            bare["pages_per_s"],
            f"{r_rules:.2f}x",
            f">={TARGET_RULES}x",
            r_rules >= TARGET_RULES,
        ],
        [
            "generic: pages/s vs Scrapy + trafilatura",
            fm_generic["pages_per_s"],
            trafil["pages_per_s"],
            f"{r_generic:.2f}x",
            f">={TARGET_GENERIC}x",
            r_generic >= TARGET_GENERIC,
        ],
        [
            "generic: pages/s vs bare Scrapy",
            fm_generic["pages_per_s"],
            bare["pages_per_s"],
            f"{ratio(fm_generic['pages_per_s'], bare['pages_per_s']):.2f}x",
            "report",
            None,
        ],
        [
            "JSON-LD fast path: extract ms/page vs same without JSON-LD",
            fp["jsonld_ms"],
            fp["no_jsonld_ms"],
            f"{ratio(fp['jsonld_ms'], fp['no_jsonld_ms']):.2f}x",
            "report",
            None,
        ],
        [
            "refresh (unchanged): CPU s vs first run",
            refresh["cpu_s"],
            fm_rules["cpu_s"],
            f"{refresh['cpu_pct']:.1f}%",
            f"<={TARGET_REFRESH_PCT:.0f}%",
            refresh["cpu_pct"] <= TARGET_REFRESH_PCT,
        ],
        [
            "refresh: new-process floor (1 unchanged empty listing), CPU s",
            floor["cpu_s"],
            refresh["cpu_s"],
            f"{100.0 * ratio(floor['cpu_s'], refresh['cpu_s']):.0f}%",
            "report",
            None,
        ],
        [
            "refresh minus the floor (the crawl itself): CPU s vs first run",
            crawl_cpu,
            fm_rules["cpu_s"],
            f"{refresh['crawl_cpu_pct']:.1f}%",
            "report",
            None,
        ],
        [
            "refresh: article pages downloaded vs first run",
            refresh["articles"],
            fm_rules["articles"],
            "-",
            "0",
            refresh["articles"] == 0,
        ],
        [
            "refresh: listing pages answered 304 of fetched",
            refresh["listings_304"],
            refresh["listings"],
            "-",
            "all",
            refresh["listings"] > 0 and refresh["listings_304"] == refresh["listings"],
        ],
        [
            "peak RSS of a feedmill crawl child, MB vs bare Scrapy",
            peak,
            bare_peak,
            f"{ratio(peak, bare_peak):.2f}x",
            f"<{TARGET_PEAK_RSS_MB:.0f} MB",
            peak < TARGET_PEAK_RSS_MB,
        ],
    ]
    results["rows"] = [
        dict(zip(["figure", "feedmill", "baseline", "ratio", "target", "met"], r, strict=True))
        for r in rows
    ]
    kb = results["article_kb"]
    print(
        f"web crawl: {pages:,} article pages ({kb['min']:.0f}-{kb['max']:.0f} KB), "
        f"{listings} listing pages, nginx 1 worker; single runs; "
        f"fast path: {fp['pages']} JSON-LD pages, body layers {fp['body_layers']}"
    )
    print_table(["figure", "feedmill", "baseline", "ratio", "target", "met?"], rows)
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
