"""feedmill.toml: the shipped file loads, and every mistake names file, source and key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from feeds.config import load_config, resolve_data_dir
from feeds.errors import ConfigError

from support import ROOT

GOOD_SOURCE = """
[sources.news]
kind = "files"
path = "docs"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feedmill.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_describes_the_seeds_source() -> None:
    config = load_config(ROOT / "feedmill.toml")
    seeds = config.source("seeds")
    assert seeds.kind == "files"
    assert seeds.path == ROOT / "seeds"
    assert seeds.glob == "*.txt"
    assert seeds.language == "zh"
    assert seeds.script == "simplified"
    assert seeds.timezone == "Asia/Shanghai"
    assert seeds.title and seeds.link and seeds.description
    assert seeds.schedule is not None and seeds.schedule.every == timedelta(hours=1)


def test_minimal_source_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD_SOURCE))
    news = config.source("news")
    assert news.path == tmp_path / "docs"
    assert news.title == "news"
    assert news.timezone == "UTC"
    assert news.schedule is None
    assert config.base_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        ('colour = "red"', "colour", "unknown key"),
        ('timezone = "Asia/Shangai"', "timezone", "unknown time zone"),
        ('glob = "[abc"', "glob", "unbalanced"),
        ('glob = "/etc/*.txt"', "glob", "relative"),
        ('glob = "../*.txt"', "glob", "'..'"),
        ('glob = ""', "glob", "empty"),
        ('script = "klingon"', "script", "must be one of"),
        ("feed_size = 0", "feed_size", "whole number"),
        ('feed_size = "50"', "feed_size", "whole number"),
        ('every = "soon"', "every", "duration"),
        ('cron = "* * *"', "cron", "5 fields"),
        ('cron = "99 * * * *"', "cron", "invalid cron"),
        ('every = "1h"\ncron = "* * * * *"', "cron", "not both"),
        ("title = 5", "title", "must be a string"),
        ('encoding = "nonsense-8"', "encoding", "unknown encoding"),
        ('jitter = "5m"', "jitter", "needs 'every' or 'cron'"),
    ],
)
def test_bad_source_key_names_file_source_and_key(
    tmp_path: Path, extra: str, key: str, reason: str
) -> None:
    path = write(tmp_path, GOOD_SOURCE + extra + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message
    assert "source 'news'" in message
    assert f"key {key!r}" in message
    assert reason in message


def test_unknown_kind_is_rejected_with_the_known_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, '[sources.news]\nkind = "ftp"\n')
    with pytest.raises(ConfigError, match=r"source 'news', key 'kind': unknown kind 'ftp'.*files"):
        load_config(path)


def test_source_named_all_is_reserved_for_the_combined_feed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="source 'all'"):
        load_config(write(tmp_path, '[sources.all]\nkind = "files"\npath = "x"\n'))


def test_service_section_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[service\], key 'base_url'"):
        load_config(write(tmp_path, '[service]\nbase_url = "ftp://x"\n'))
    with pytest.raises(ConfigError, match=r"\[service\], key 'port_number': unknown key"):
        load_config(write(tmp_path, "[service]\nport_number = 1\n"))


def test_invalid_toml_and_missing_file_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[sources.news\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


def test_data_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(write(tmp_path, '[service]\ndata_dir = "state"\n' + GOOD_SOURCE))
    monkeypatch.delenv("FEEDMILL_DATA_DIR", raising=False)
    assert resolve_data_dir(config) == tmp_path / "state"
    monkeypatch.setenv("FEEDMILL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(config) == tmp_path / "env"
    assert resolve_data_dir(config, tmp_path / "cli") == tmp_path / "cli"


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD_SOURCE)
    monkeypatch.setenv("FEEDMILL_CONFIG", str(path))
    assert list(load_config().sources) == ["news"]


def test_database_and_runner_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feeds.config import scrapyd_nodes
    from feeds.stores import database_url

    monkeypatch.delenv("FEEDMILL_DATABASE_URL", raising=False)
    monkeypatch.delenv("FEEDMILL_SCRAPYD_NODES", raising=False)
    config = load_config(write(tmp_path, GOOD_SOURCE))
    assert (config.runner, config.database_url, config.scrapyd_nodes) == ("local", "", ())
    assert database_url(config, tmp_path / "var") == f"sqlite:///{tmp_path}/var/feedmill.sqlite3"
    text = (
        '[service]\ndatabase_url = "postgresql://u:pw@db/feeds"\nrunner = "scrapyd"\n'
        'scrapyd_nodes = ["http://u:pw@w1:6800", "https://w2"]\nscrapyd_slots = 4\n'
    ) + GOOD_SOURCE
    config = load_config(write(tmp_path, text))
    assert config.runner == "scrapyd" and config.scrapyd_slots == 4
    assert database_url(config, tmp_path) == "postgresql://u:pw@db/feeds"
    assert scrapyd_nodes(config) == ("http://u:pw@w1:6800", "https://w2")
    monkeypatch.setenv("FEEDMILL_DATABASE_URL", "postgresql://other/db")
    monkeypatch.setenv("FEEDMILL_SCRAPYD_NODES", "http://a:6800, http://b:6800")
    assert database_url(config, tmp_path) == "postgresql://other/db"
    assert scrapyd_nodes(config) == ("http://a:6800", "http://b:6800")
    monkeypatch.delenv("FEEDMILL_SCRAPYD_NODES")
    for bad, reason in (
        ('database_url = "mysql://x/y"', "key 'database_url': must be a sqlite"),
        ('runner = "celery"', "key 'runner': must be one of local, scrapyd"),
        ('runner = "scrapyd"', "'scrapyd' needs scrapyd_nodes"),
        ('scrapyd_nodes = ["ftp://u:secret@x"]', "'ftp://u:\\*\\*\\*@x' is not an http"),
    ):
        with pytest.raises(ConfigError, match=reason):
            load_config(write(tmp_path, f"[service]\n{bad}\n" + GOOD_SOURCE))
