"""Bad local documents (issue 6, "Bad input: files"): one real ``feedmill crawl`` of a
folder that holds a good document next to every kind of bad one.

Each bad document is either skipped with a log line naming the file and the reason, or,
when it is valid after all (UTF-16 without a BOM, a 100,000-character body line, deep
parentheses, stray C0 controls), stored cleanly. The run goes on, the good documents are
stored, what was stored before is neither lost nor doubled, and the feeds stay valid.
The documents are written and crawled once for the module; the tests read the outcome.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from badinput_support import articles, feed_ids

from feeds.article import article_id

from support import FIXTURES, SEED_NAME, run_feedmill

CONFIG = """\
[service]
base_url = "http://127.0.0.1:8080"

[sources.seeds]
kind = "files"
path = "seeds"
glob = "*.txt"
language = "zh"
script = "simplified"
timezone = "Asia/Shanghai"
"""

BODY = "本报讯(记者 王五)12月9日,青年服务台工作推进会在北京召开。\n会议强调,要做好服务工作。\n"
FIFTY_MB = 50 * 1024 * 1024
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _nested_parentheses(levels: int) -> str:
    return "深度嵌套\n" + BODY + "正文" + "(" * levels + "内容" + ")" * levels + "\n"


def _pinyin_chain(links: int) -> str:
    # 國(guó(guó(guó…: every removal brings the next annotation next to 國.
    return "拼音链\n" + BODY + "全國" + "(guó" * links + ")" * links + "\n"


# Skipped documents: file name -> (bytes, the reason the log must give).
SKIPPED: dict[str, tuple[bytes, str]] = {
    "empty.txt": (b"", "empty document"),
    "blank.txt": (b" \n\r\n\t\n", "empty document"),
    "random.txt": (random.Random(6).randbytes(8192), "binary data, not text"),
    "image.txt": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(7).randbytes(4000),
        "binary data, not text",
    ),
    "invalid-utf8.txt": (
        "标题\n正文第一段。\n".encode() + b"\xc3\x28 \xa0\xa1 \xe2\x82 \xf0\x28\x8c\xbc\n" * 3,
        "neither UTF-8",
    ),
    "nul.txt": (("有空字符的标题\n" + BODY).encode().replace("。".encode(), b"\x00"), "binary"),
    "controls.txt": (
        (
            "控制字符\n" + "".join(chr(c) for c in range(1, 32) if c not in (9, 10, 13)) * 20
        ).encode(),
        "binary data, not text",
    ),
    "one-line.txt": (("长" * 100_000).encode(), "the first line is 100000 characters"),
    "title-only.txt": ("只有标题\n\n".encode(), "no body text (a title only)"),
    "rights-first.txt": ("版权声明:本文版权归原作者所有\n正文。\n".encode(), "no title line"),
}
# Documents that are valid after all: file name -> (bytes, the title they must get).
STORED: dict[str, tuple[bytes, str]] = {
    "utf16-le.txt": (("小端标题\n" + BODY + "数字 2022 ABC\n").encode("utf-16-le"), "小端标题"),
    "utf16-be.txt": (("大端标题\n" + BODY + "数字 2023 XYZ\n").encode("utf-16-be"), "大端标题"),
    "long-body.txt": (("长正文\n" + BODY + "字" * 100_000 + "\n").encode(), "长正文"),
    "nested.txt": (_nested_parentheses(10_000).encode(), "深度嵌套"),
    "pinyin-chain.txt": (_pinyin_chain(10_000).encode(), "拼音链"),
    # A few stray controls in real text: read, and the controls dropped.
    "stray-controls.txt": (
        ("杂\x07散\x1b控制\n" + BODY * 20 + "结尾\x01\x02\x7f。\n").encode(),
        "杂散控制",
    ),
    # One NUL in a page of text (a damaged save): read, and the NUL dropped.
    "stray-nul.txt": (("零\x00字节\n" + BODY * 20 + "结\x00束。\n").encode(), "零字节"),
    "second-good.txt": (
        (FIXTURES / "seeds" / SEED_NAME)
        .read_text(encoding="utf-8")
        .replace("\n", "\r\n", 3)
        .encode(),
        "",
    ),
}


@dataclass
class Outcome:
    project: Path
    before: list[tuple[str, str, str, str]]
    after: list[tuple[str, str, str, str]]
    log: str
    summary: str
    returncode: int
    again: str


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    project = tmp_path_factory.mktemp("bad-files")
    (project / "feedmill.toml").write_text(CONFIG, encoding="utf-8")
    seeds = project / "seeds"
    seeds.mkdir()
    shutil.copy(FIXTURES / "seeds" / SEED_NAME, seeds / "good.txt")
    first = run_feedmill(project, "crawl")
    assert first.returncode == 0, first.stderr[-3000:]
    store = project / "var" / "feedmill.sqlite3"
    before = articles(store)

    for name, (data, _) in {**SKIPPED, **STORED}.items():
        (seeds / name).write_bytes(data)
    with open(seeds / "huge.txt", "wb") as huge:  # 50 MB of real text
        line = ("大文件的正文。" * 100 + "\n").encode()
        huge.write("大文件\n".encode())
        for _ in range(FIFTY_MB // len(line) + 1):
            huge.write(line)
    result = run_feedmill(project, "crawl", "-v", timeout=150)
    after = articles(store)
    again = run_feedmill(project, "crawl", timeout=60)
    (seeds / "huge.txt").unlink()
    return Outcome(
        project, before, after, result.stderr, result.stdout, result.returncode, again.stdout
    )


def _summary_row(stdout: str) -> list[str]:
    row = next(line for line in stdout.splitlines() if line.startswith("seeds "))
    return row.split()


def test_the_run_goes_on_and_succeeds(outcome: Outcome) -> None:
    assert outcome.returncode == 0, outcome.log[-3000:]
    row = _summary_row(outcome.summary)
    state, read, new, unchanged, failed, seconds = row[2], *row[3:5], *row[6:]
    skipped = len(SKIPPED) + 1  # and huge.txt
    assert (state, int(read), int(new), int(failed)) == (
        "ok",
        len(SKIPPED) + len(STORED) + 2,
        len(STORED),
        skipped,
    ), outcome.summary
    assert int(unchanged) == 1  # good.txt, stored by the first run
    # The pinyin chain and the 100,000-character lines cost no more than a few seconds.
    assert float(seconds) < 30, outcome.summary


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_each_skipped_document_has_a_log_line_with_its_name_and_reason(
    outcome: Outcome, name: str
) -> None:
    reason = SKIPPED[name][1]
    lines = [line for line in outcome.log.splitlines() if name in line]
    assert lines, f"no log line names {name}"
    assert any("skipped" in line and reason in line for line in lines), lines
    assert all("Traceback" not in line for line in lines)


def test_a_fifty_megabyte_document_is_refused_by_its_size(outcome: Outcome) -> None:
    line = next(line for line in outcome.log.splitlines() if "huge.txt" in line)
    assert "skipped: too large" in line and "FILES_MAX_BYTES" in line, line
    assert "Traceback" not in outcome.log


def test_valid_documents_among_the_bad_ones_are_stored_cleanly(outcome: Outcome) -> None:
    titles = {key: title for _, key, title, _ in outcome.after}
    good_title = titles["good.txt"]
    for name, (_, title) in STORED.items():
        assert name in titles, f"{name} not stored:\n{outcome.log[-3000:]}"
        assert titles[name] == (title or good_title)
    for name in [*SKIPPED, "huge.txt"]:
        assert name not in titles
    with sqlite3.connect(outcome.project / "var" / "feedmill.sqlite3") as db:
        rows = db.execute("SELECT key, title, body_text, body_html, summary FROM articles")
        for key, *fields in rows:
            for value in fields:
                assert not XML_FORBIDDEN.search(value), (key, value[:80])
        body = dict(db.execute("SELECT key, body_text FROM articles"))
    assert len(body["long-body.txt"]) > 100_000
    assert "(" * 10_000 + "内容" + ")" * 10_000 in body["nested.txt"]
    assert body["pinyin-chain.txt"].startswith("本报讯")
    assert body["stray-controls.txt"].endswith("结尾\x7f。")  # DEL is not C0: XML allows it
    assert body["stray-nul.txt"].endswith("结束。")


def test_nothing_stored_before_is_lost_or_doubled(outcome: Outcome) -> None:
    assert len(outcome.before) == 1
    (good_id, good_key, good_title, first_seen) = outcome.before[0]
    assert good_id == article_id("seeds", "good.txt")
    assert (good_id, good_key, good_title, first_seen) in outcome.after
    ids = [row[0] for row in outcome.after]
    keys = [row[1] for row in outcome.after]
    assert len(ids) == len(set(ids)) == len(set(keys)) == 1 + len(STORED)
    # A third run reads the bad documents again and changes nothing.
    row = _summary_row(outcome.again)
    assert row[2] == "ok" and int(row[4]) == 0 and int(row[6]) == 1 + len(STORED), outcome.again
    assert articles(outcome.project / "var" / "feedmill.sqlite3") == outcome.after


@pytest.mark.parametrize("feed", ["seeds", "all"])
def test_feeds_stay_valid_with_every_stored_article_once(outcome: Outcome, feed: str) -> None:
    ids = feed_ids(outcome.project / "var" / "feeds", feed)
    expected = {f"urn:uuid:{article_id}" for article_id, *_ in outcome.after}
    assert set(ids["atom"]) == expected


def test_a_file_name_that_is_not_utf8_is_skipped_and_the_run_goes_on(tmp_path: Path) -> None:
    project = tmp_path
    (project / "feedmill.toml").write_text(CONFIG, encoding="utf-8")
    seeds = project / "seeds"
    seeds.mkdir()
    shutil.copy(FIXTURES / "seeds" / SEED_NAME, seeds / "good.txt")
    with open(os.fsencode(seeds) + b"/bad-\xff-name.txt", "wb") as bad:
        bad.write((FIXTURES / "seeds" / SEED_NAME).read_bytes())
    result = run_feedmill(project, "crawl")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bad-" in result.stderr and "skipped" in result.stderr
    assert [key for _, key, _, _ in articles(project / "var" / "feedmill.sqlite3")] == ["good.txt"]
