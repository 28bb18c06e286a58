"""The seeds source end to end through Scrapy: spider → pipelines → SQLite, in process.

These run a real CrawlerProcess-free crawl (``scrapy crawl`` as a subprocess) against a
temporary project folder and read the store back.
"""

from __future__ import annotations

import codecs
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds.article import article_id
from feeds.store import SQLiteStore

from support import ROOT, SEED_NAME

SHANGHAI = ZoneInfo("Asia/Shanghai")


def scrapy_crawl(
    project: Path, source: str = "seeds", *settings: str
) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl SOURCE`` from a project folder, as a user runs it from the repo root."""
    shutil.copy(ROOT / "scrapy.cfg", project / "scrapy.cfg")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMILL_", "SCRAPY_"))}
    args = [sys.executable, "-m", "scrapy", "crawl", source, "-s", "LOG_LEVEL=INFO"]
    for setting in settings:
        args += ["-s", setting]
    return subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=120)


def stored(project: Path) -> SQLiteStore:
    return SQLiteStore(project / "var" / "feedmill.sqlite3")


def test_seed_fields_after_cleaning(project: Path) -> None:
    result = scrapy_crawl(project)
    assert result.returncode == 0, result.stderr
    with stored(project) as store:
        article = store.get(article_id("seeds", SEED_NAME))
    assert article is not None, result.stderr
    assert article.title == "2022年全国12355青少年服务台工作推进会召开"
    assert article.published == datetime(2022, 12, 9, tzinfo=SHANGHAI)
    assert article.published.utcoffset() == timedelta(hours=8)
    assert article.authors == ["杨宝光"]
    assert article.agency == "中青报·中青网"
    assert article.publisher == "中国西藏网"
    paragraphs = article.body_text.split("\n")
    assert len(paragraphs) == 5
    assert paragraphs[0].startswith("本报讯(中青报·中青网记者 杨宝光)12月9日,2022年全国")
    assert paragraphs[-1].endswith("实现了省级台全覆盖、接听率稳定保持90%的年度目标。")
    assert "版权" not in article.body_text
    assert article.body_html == "".join(f"<p>{p}</p>" for p in paragraphs)
    assert article.rights.startswith("版权声明:凡注明“来源:中国西藏网”")
    assert "高原(北京)文化传播有限公司" in article.rights
    assert len(article.related) == 10
    assert article.related[0].title == "站在理想信念的制高点 用中国化时代化的马克思主义引领凝聚青年"
    assert article.related[-1].title.startswith("【把二十大精神带到基层一线】")
    assert all(link.url == "" for link in article.related)
    assert article.language == "zh-CN"
    assert article.summary and paragraphs[0].startswith(article.summary.rstrip("…"))
    assert len(article.summary) <= 201
    assert article.content_hash and article.id == article_id("seeds", SEED_NAME)


def test_no_pinyin_and_no_traditional_script_survive(project: Path) -> None:
    from crawler.textclean import has_pinyin

    assert scrapy_crawl(project).returncode == 0
    with stored(project) as store:
        article = store.get(article_id("seeds", SEED_NAME))
    assert article is not None
    text = "\n".join(
        [article.title, article.body_text, article.rights, article.summary, article.body_html]
        + [link.title for link in article.related]
    )
    assert not has_pinyin(text)
    assert not any(ch.isascii() and ch.isalpha() for ch in article.body_text.replace("·", ""))
    for traditional in "國會議臺團網報記楊寶書":
        assert traditional not in text
    assert "?" not in article.body_text


def test_recrawl_keeps_one_entry_per_id_without_churn(project: Path) -> None:
    assert scrapy_crawl(project).returncode == 0
    with stored(project) as store:
        first = store.get(article_id("seeds", SEED_NAME))
    os.utime(project / "seeds" / SEED_NAME)  # touching the file is not an edit
    result = scrapy_crawl(project)
    assert result.returncode == 0
    with stored(project) as store:
        assert store.counts() == {"seeds": 1}
        assert store.get(article_id("seeds", SEED_NAME)) == first
        runs = store.runs("seeds")
    assert (runs[0].outcome, runs[0].fetched, runs[0].new, runs[0].unchanged) == ("ok", 1, 0, 1)
    assert (runs[1].new, runs[1].unchanged) == (1, 0)


def test_edited_document_updates_its_article(project: Path) -> None:
    assert scrapy_crawl(project).returncode == 0
    path = project / "seeds" / SEED_NAME
    path.write_text(
        path.read_text(encoding="utf-8").replace("共200余人", "共300余人"), encoding="utf-8"
    )
    time.sleep(0.01)
    assert scrapy_crawl(project).returncode == 0
    with stored(project) as store:
        assert store.counts() == {"seeds": 1}
        article = store.get(article_id("seeds", SEED_NAME))
        run = store.runs("seeds")[0]
    assert article is not None and "共300余人" in article.body_text
    assert article.updated is not None and article.first_seen is not None
    assert article.updated > article.first_seen
    assert (run.new, run.updated) == (0, 1)


def write_bad_documents(seeds: Path) -> dict[str, str]:
    """Documents that cannot be articles, with the reason each log line must give."""
    (seeds / "empty.txt").write_bytes(b"")
    (seeds / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (seeds / "no-title.txt").write_text("版权声明:只有版权\n- 链接", encoding="utf-8")
    (seeds / "title-only.txt").write_text("只有一个标题", encoding="utf-8")
    return {
        "empty.txt": "empty",
        "binary.txt": "binary",
        "no-title.txt": "no title",
        "title-only.txt": "no body",
    }


def test_bad_documents_are_skipped_with_a_reason_and_the_run_goes_on(project: Path) -> None:
    seeds = project / "seeds"
    reasons = write_bad_documents(seeds)
    text = "2021年测试标题\n本报讯(记者 王五)3月1日,正文第一段。\n第二段。"
    (seeds / "gbk.txt").write_bytes(text.encode("gbk"))
    (seeds / "bom-crlf.txt").write_bytes(codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode())
    (seeds / "utf16.txt").write_bytes(text.encode("utf-16"))
    big = "大文件标题\n" + ("本报讯(记者 王五)3月1日,很长的正文。" * 20 + "\n") * 5500
    (seeds / "big.txt").write_text(big, encoding="utf-8")
    assert (seeds / "big.txt").stat().st_size > 5 * 1024 * 1024
    result = scrapy_crawl(project)
    assert result.returncode == 0
    for name, reason in reasons.items():
        lines = [line for line in result.stderr.splitlines() if name in line]
        assert lines, f"no log line names {name}:\n{result.stderr}"
        assert any(reason in line for line in lines), lines
    with stored(project) as store:
        run = store.runs("seeds")[0]
        assert store.counts() == {"seeds": 5}
        for name in ("gbk.txt", "bom-crlf.txt", "utf16.txt"):
            article = store.get(article_id("seeds", name))
            assert article is not None, name
            assert article.title == "2021年测试标题"
            assert article.authors == ["王五"]
            assert article.body_text == "本报讯(记者 王五)3月1日,正文第一段。\n第二段。"
            assert article.published == datetime(2021, 3, 1, tzinfo=SHANGHAI)
        big_article = store.get(article_id("seeds", "big.txt"))
        assert big_article is not None and len(big_article.body_text) > 1_000_000
    assert (run.outcome, run.fetched, run.new, run.failed) == ("ok", 9, 5, 4)


def test_missing_folder_fails_the_run_with_the_reason(project: Path) -> None:
    shutil.rmtree(project / "seeds")
    result = scrapy_crawl(project)
    assert "does not exist" in result.stderr
    with stored(project) as store:
        run = store.runs("seeds")[0]
    assert run.outcome == "failed"
    assert "folder_missing" in run.error or "does not exist" in run.error


def test_scrapy_list_shows_the_configured_sources(project: Path) -> None:
    shutil.copy(ROOT / "scrapy.cfg", project / "scrapy.cfg")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMILL_", "SCRAPY_"))}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Each source, and the dispatcher Scrapyd nodes are sent (``-a source=NAME``).
    assert result.stdout.split() == ["_source", "seeds"]


def test_store_path_setting_puts_the_store_elsewhere(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "store.sqlite3"
    assert scrapy_crawl(project, "seeds", f"STORE_PATH={target}").returncode == 0
    with SQLiteStore(target) as store:
        assert store.counts() == {"seeds": 1}
    assert (target.parent / "feeds" / "seeds.rss").exists()
    assert not (project / "var" / "feedmill.sqlite3").exists()


def test_naive_datetimes_never_reach_the_store(project: Path) -> None:
    assert scrapy_crawl(project).returncode == 0
    with stored(project) as store:
        for article in store.latest(None, 10):
            assert article.published is not None and article.published.tzinfo is not None
            assert article.first_seen is not None and article.first_seen.tzinfo == UTC


@pytest.mark.parametrize("glob", ["**/*.txt"])
def test_nested_folders_with_a_recursive_glob(project: Path, glob: str) -> None:
    config = project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('glob = "*.txt"', f'glob = "{glob}"'),
        encoding="utf-8",
    )
    nested = project / "seeds" / "2022" / "12"
    nested.mkdir(parents=True)
    shutil.copy(project / "seeds" / SEED_NAME, nested / "copy.txt")
    assert scrapy_crawl(project).returncode == 0
    with stored(project) as store:
        assert store.counts() == {"seeds": 2}
        assert store.get(article_id("seeds", "2022/12/copy.txt")) is not None


def test_unchanged_files_are_not_read_again_until_they_or_the_settings_change(
    project: Path,
) -> None:
    assert scrapy_crawl(project).returncode == 0
    second = scrapy_crawl(project)
    assert "'feedmill/files_unchanged': 1" in second.stderr
    config = project / "feedmill.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'script = "simplified"', 'script = "traditional"'
        ),
        encoding="utf-8",
    )
    third = scrapy_crawl(project)
    assert "feedmill/files_unchanged" not in third.stderr  # new settings: read again
    with stored(project) as store:
        article = store.get(article_id("seeds", SEED_NAME))
        run = store.runs("seeds")[0]
    assert article is not None and "國" in article.title  # now Traditional
    assert (run.updated, run.unchanged) == (1, 0)
