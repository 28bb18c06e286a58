"""Configuration mistakes (issue 6, "Bad input: config"): every wrong key, type or value
in feedmill.toml is an error naming the file, the section (``[service]``, the source or
the feed) and the key, from load_config and from ``feedmill check``, which exits
non-zero with that message and no traceback.

A valid file with a source of each kind and a named feed is the base; each case changes
one entry of it (or adds a section), so the error can only come from that change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from feeds.config import load_config
from feeds.errors import ConfigError

from support import ROOT, run_feedmill

Table = dict[str, str]

BASE: dict[str, Table] = {
    "": {},
    "service": {"base_url": '"http://127.0.0.1:8080"', "title": '"feeds"'},
    "sources.docs": {"kind": '"files"', "path": '"docs"', "glob": '"*.txt"'},
    "sources.news": {
        "kind": '"web"',
        "start_urls": '["https://news.example.org/china/"]',
        "article_links": '"ul.list a"',
        "timezone": '"Asia/Shanghai"',
        "every": '"15m"',
    },
    "sources.up": {"kind": '"feed"', "url": '"https://example.org/rss.xml"'},
    "feeds.mix": {"sources": '["docs", "news"]'},
}

WHERE = {
    "": "top level",
    "service": "[service]",
    "sources.docs": "source 'docs'",
    "sources.news": "source 'news'",
    "sources.up": "source 'up'",
    "feeds.mix": "feed 'mix'",
}

# (table, key, TOML value or None to delete it, the key the error must name)
CASES: list[tuple[str, str, str | None, str]] = [
    # unknown keys at every level
    ("", "bogus", "1", "bogus"),
    ("service", "colour", '"red"', "colour"),
    ("sources.docs", "folder", '"docs"', "folder"),
    ("sources.docs", "start_urls", '["https://x.org/"]', "start_urls"),
    ("sources.news", "start_url", '["https://x.org/"]', "start_url"),
    ("sources.up", "full_txt", "true", "full_txt"),
    ("sources.news", "rules", '{ titel = "h1" }', "rules.titel"),
    ("sources.news", "include", '{ summary = "x" }', "include.summary"),
    ("feeds.mix", "bogus", "1", "bogus"),
    # wrong types
    ("service", "feed_size", '"50"', "feed_size"),
    ("service", "port", '"8080"', "port"),
    ("service", "title", "5", "title"),
    ("service", "batch_size", "1.5", "batch_size"),
    ("service", "workers", "true", "workers"),
    ("service", "keep_runs", '"100"', "keep_runs"),
    ("service", "data_dir", "[]", "data_dir"),
    ("sources.docs", "title", "1", "title"),
    ("sources.docs", "glob", "5", "glob"),
    ("sources.docs", "path", "false", "path"),
    ("sources.news", "every", "true", "every"),
    ("sources.news", "start_urls", "5", "start_urls"),
    ("sources.news", "max_pages", '"3"', "max_pages"),
    ("sources.news", "rules", '"h1"', "rules"),
    ("sources.news", "include", '"x"', "include"),
    ("sources.news", "timezone", "8", "timezone"),
    ("sources.news", "allowed_domains", '"example.org"', "allowed_domains"),
    ("sources.up", "full_text", '"yes"', "full_text"),
    ("sources.up", "url", '["https://x.org/", 5]', "url"),
    ("feeds.mix", "sources", '"docs"', "sources"),
    ("feeds.mix", "feed_size", "0", "feed_size"),
    # wrong values: kinds, names, encodings, languages, domains, scripts
    ("sources.docs", "kind", None, "kind"),
    ("sources.docs", "kind", '"rss"', "kind"),
    ("sources.docs", "encoding", '"klingon"', "encoding"),
    ("sources.docs", "encoding", '"base64"', "encoding"),
    ("sources.docs", "script", '"klingon"', "script"),
    ("sources.docs", "language", '"中文"', "language"),
    ("service", "language", '"en US"', "language"),
    ("sources.news", "allowed_domains", '["https://example.org/"]', "allowed_domains"),
    ("sources.news", "max_articles", "0", "max_articles"),
    ("sources.news", "feed_size", "100000", "feed_size"),
    ("service", "host", '""', "host"),
    ("service", "port", "70000", "port"),
    # bad URLs
    ("service", "base_url", '"ftp://example.org"', "base_url"),
    ("service", "hub", '"mailto:hub@example.org"', "hub"),
    ("service", "link", '"not a url"', "link"),
    ("sources.news", "start_urls", '["news.example.org/china/"]', "start_urls"),
    ("sources.news", "link", '"javascript:alert(1)"', "link"),
    ("sources.up", "url", '"http://exa mple.org/rss.xml"', "url"),
    ("sources.up", "url", '"http://:80/rss.xml"', "url"),
    ("sources.up", "url", '"http://example.org:99999/rss.xml"', "url"),
    ("sources.up", "url", '"file:///etc/passwd"', "url"),
    ("sources.up", "url", None, "url"),
    # bad durations
    ("sources.news", "every", '"15 minutes"', "every"),
    ("sources.news", "every", '"-5m"', "every"),
    ("sources.news", "every", '"0s"', "every"),
    ("sources.news", "every", '"99999999999d"', "every"),
    ("sources.news", "every", "1000000000000000000", "every"),
    ("sources.news", "jitter", '"soon"', "jitter"),
    ("sources.news", "refresh_after", '"1y"', "refresh_after"),
    ("sources.news", "timeout", '"0s"', "timeout"),
    ("sources.news", "timeout", '"99999999d"', "timeout"),
    ("sources.docs", "jitter", '"30s"', "jitter"),
    # bad cron
    ("sources.docs", "cron", '"*/0 * * * *"', "cron"),
    ("sources.docs", "cron", '"61 * * * *"', "cron"),
    ("sources.docs", "cron", '"* * *"', "cron"),
    ("sources.docs", "cron", '"a b c d e"', "cron"),
    ("sources.news", "cron", '"*/10 * * * *"', "cron"),  # and every
    # bad time zones
    ("sources.news", "timezone", '"Mars/Olympus"', "timezone"),
    ("sources.news", "timezone", '"../../etc/passwd"', "timezone"),
    ("sources.news", "timezone", '""', "timezone"),
    ("sources.news", "timezone", '"UTC+8"', "timezone"),
    ("sources.news", "schedule_timezone", '"Nowhere/Else"', "schedule_timezone"),
    # bad globs
    ("sources.docs", "glob", '""', "glob"),
    ("sources.docs", "glob", '"/etc/*.txt"', "glob"),
    ("sources.docs", "glob", '"../*.txt"', "glob"),
    ("sources.docs", "glob", '"a/**x/*.txt"', "glob"),
    ("sources.docs", "glob", '"[abc.txt"', "glob"),
    ("sources.docs", "glob", '"a\\u0000.txt"', "glob"),
    ("sources.docs", "glob", '"a//b.txt"', "glob"),
    # bad regular expressions and selectors
    ("sources.news", "include", '{ title = "(" }', "include.title"),
    ("sources.news", "exclude", '{ body = "[" }', "exclude.body"),
    ("sources.news", "exclude", '{ author = "" }', "exclude.author"),
    ("feeds.mix", "include", '{ author = "*" }', "include.author"),
    ("sources.news", "article_pattern", '"(?P<x"', "article_pattern"),
    ("sources.news", "article_links", '"a[[["', "article_links"),
    ("sources.news", "article_links", None, "article_links"),
    ("sources.news", "next_page", '"ul >> li"', "next_page"),
    ("sources.news", "rules", '{ title = "//h1[" }', "rules.title"),
    ("sources.news", "rules", '{ strip = ["ok", "div[[["] }', "rules.strip"),
    ("sources.news", "rules", '{ prune = "yes" }', "rules.prune"),
    # [service] batching
    ("service", "batch_window", '"fast"', "batch_window"),
    ("service", "batch_window", '"-1s"', "batch_window"),
    ("service", "batch_window", "99999999999999", "batch_window"),
    ("service", "batch_size", "0", "batch_size"),
    ("service", "batch_size", "1001", "batch_size"),
    ("service", "workers", "0", "workers"),
    ("service", "workers", "257", "workers"),
    ("service", "workers", '"8"', "workers"),
    ("service", "keep_runs", "0", "keep_runs"),
    ("service", "keep_runs", "-5", "keep_runs"),
    # feeds referring to unknown sources
    ("feeds.mix", "sources", '["docs", "nope"]', "sources"),
    ("feeds.mix", "sources", "[]", "sources"),
]

# Whole sections that are wrong: (text appended to the base, where, key or None)
SECTIONS: list[tuple[str, str, str | None]] = [
    ('[sources."Bad Name"]\nkind = "feed"\nurl = "https://x.org/"\n', "source 'Bad Name'", None),
    ('[sources.all]\nkind = "feed"\nurl = "https://x.org/"\n', "source 'all'", None),
    ('[sources."abc\\n"]\nkind = "feed"\nurl = "https://x.org/"\n', "source 'abc\\n'", None),
    ('[feeds.docs]\nsources = ["docs"]\n', "feed 'docs'", None),
    ('[feeds.all]\nsources = ["docs"]\n', "feed 'all'", None),
    ('[feeds.other]\nsources = ["missing"]\n', "feed 'other'", "sources"),
    ('[feeds."x y"]\nsources = ["docs"]\n', "feed 'x y'", None),
    ("[sources.extra]\nkind = 5\n", "source 'extra'", "kind"),
    ("[sources]\nplain = 5\n", "source 'plain'", None),
    # a duplicate name: the TOML parser refuses it, naming the table
    ('[sources.up]\nkind = "feed"\nurl = "https://x.org/"\n', "('sources', 'up')", None),
]


def render(tables: dict[str, Table], extra: str = "") -> str:
    out = [f"{key} = {value}" for key, value in tables[""].items()]
    for name, table in tables.items():
        if name:
            out.append(f"\n[{name}]")
            out += [f"{key} = {value}" for key, value in table.items()]
    return "\n".join(out) + "\n\n" + extra


def edited(table: str, key: str, value: str | None) -> str:
    tables = {name: dict(entries) for name, entries in BASE.items()}
    if value is None:
        del tables[table][key]
    else:
        tables[table][key] = value
    return render(tables)


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return run_feedmill(path.parent, "check", "--config", str(path), timeout=60)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    (folder / "docs").mkdir()
    return folder


def test_the_base_file_is_valid(folder: Path) -> None:
    path = folder / "feedmill.toml"
    path.write_text(render(BASE), encoding="utf-8")
    config = load_config(path)
    assert set(config.sources) == {"docs", "news", "up"} and set(config.feeds) == {"mix"}
    result = check(path)
    assert result.returncode == 0, result.stderr


def _assert_named(message: str, path: Path, where: str, key: str | None) -> None:
    assert str(path) in message, message
    assert where in message, message
    if key is not None:
        assert f"key {key!r}" in message, message


@pytest.mark.parametrize(
    ("table", "key", "value", "named"),
    CASES,
    ids=[f"{t or 'top'}.{k}={v}" for t, k, v, _ in CASES],
)
def test_a_wrong_entry_names_the_file_the_section_and_the_key(
    folder: Path, table: str, key: str, value: str | None, named: str
) -> None:
    path = folder / f"case-{CASES.index((table, key, value, named))}.toml"
    path.write_text(edited(table, key, value), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    _assert_named(str(error.value), path, WHERE[table], named)


@pytest.mark.parametrize(("section", "where", "key"), SECTIONS)
def test_a_wrong_section_names_the_file_and_the_section(
    folder: Path, section: str, where: str, key: str | None
) -> None:
    path = folder / f"section-{SECTIONS.index((section, where, key))}.toml"
    path.write_text(render(BASE, section), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    _assert_named(str(error.value), path, where, key)


def test_feedmill_check_exits_non_zero_with_the_message(folder: Path) -> None:
    """The CLI for every case: one ``feedmill check`` per file, a few at a time."""
    files: list[tuple[Path, str, str | None]] = []
    for number, (table, key, value, named) in enumerate(CASES):
        path = folder / f"cli-{number}.toml"
        path.write_text(edited(table, key, value), encoding="utf-8")
        files.append((path, WHERE[table], named))
    for number, (section, where, key) in enumerate(SECTIONS):
        path = folder / f"cli-section-{number}.toml"
        path.write_text(render(BASE, section), encoding="utf-8")
        files.append((path, where, key))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    env["PYTHONPATH"] = str(ROOT)
    # One interpreter checks every file the way `feedmill check` does (main() with its
    # arguments), so that 100+ files do not cost 100+ interpreter start-ups.
    script = (
        "import sys, contextlib, io, json\n"
        "from feeds.cli import main\n"
        "for path in sys.argv[1:]:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        try:\n"
        "            code = main(['check', '--config', path])\n"
        "        except SystemExit as exc:\n"
        "            code = exc.code\n"
        "    print(json.dumps([path, code, err.getvalue()]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *(str(path) for path, _, _ in files)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(files)
    for (path, where, key), (checked, code, stderr) in zip(files, outcomes, strict=True):
        assert checked == str(path)
        assert code not in (0, None), (path, stderr)
        assert "Traceback" not in stderr, stderr
        _assert_named(stderr, path, where, key)


def test_feedmill_check_itself_on_one_mistake(folder: Path) -> None:
    """The real command line, once: exit status 2 or 1, the message on stderr."""
    path = folder / "one.toml"
    path.write_text(edited("sources.news", "timezone", '"Mars/Olympus"'), encoding="utf-8")
    result = check(path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    _assert_named(result.stderr, path, "source 'news'", "timezone")
