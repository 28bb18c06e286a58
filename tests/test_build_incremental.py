"""A rebuild touches only the feeds whose articles changed (performance issue, target 5).

Unchanged feeds keep their bytes, mtime and inode, and are not even rendered: the build
finds the digest of their inputs recorded next to them. A changed article re-renders its
source's feed and every feed that shows it (``all``, named feeds), and nothing else; a
feed file deleted or edited by hand is rendered again.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from feeds import build as build_module
from feeds.article import Article, article_id
from feeds.build import build_feeds
from feeds.config import Config, parse_config
from feeds.store import SQLiteStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIG = """
[service]
base_url = "http://127.0.0.1:8080"

[sources.a]
kind = "files"
path = "a"

[sources.b]
kind = "files"
path = "b"

[sources.c]
kind = "files"
path = "c"

[feeds.ab]
sources = ["a", "b"]
title = "a and b"
"""


def add(store: SQLiteStore, source: str, n: int, title: str = "") -> None:
    key = f"{n}.txt"
    store.upsert(
        Article(
            source=source,
            key=key,
            id=article_id(source, key),
            title=title or f"{source} {n}",
            body_text=f"body {n}",
            published=datetime(2024, 1, 1 + n, tzinfo=SHANGHAI),
        )
    )


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(tomllib.loads(CONFIG), tmp_path / "feedmill.toml")


@pytest.fixture
def store(tmp_path: Path):
    with SQLiteStore.in_data_dir(tmp_path / "var") as opened:
        for source in ("a", "b", "c"):
            for n in range(3):
                add(opened, source, n)
        yield opened


@pytest.fixture
def rendered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The feed names the build renders, in order."""
    names: list[str] = []
    real = build_module.render_feeds

    def counting(meta, articles, *args, **kwargs):  # type: ignore[no-untyped-def]
        names.append(meta.name)
        return real(meta, articles, *args, **kwargs)

    monkeypatch.setattr(build_module, "render_feeds", counting)
    return names


def snapshot(out: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino)
        for p in sorted(out.iterdir())
        if not p.name.startswith(".")
    }


def changed(written: list[build_module.FeedFile]) -> set[str]:
    return {f.path.name for f in written if f.changed}


def test_unchanged_store_renders_nothing(tmp_path: Path, config: Config, store, rendered) -> None:
    out = tmp_path / "feeds"
    first = build_feeds(config, store, out)
    assert changed(first) == {f"{n}.{e}" for n in "abc" for e in ("rss", "atom", "json")} | {
        f"{n}.{e}" for n in ("all", "ab") for e in ("rss", "atom", "json")
    }
    assert sorted(rendered) == ["a", "ab", "all", "b", "c"]
    before = snapshot(out)
    rendered.clear()
    second = build_feeds(config, store, out)
    assert rendered == []
    assert changed(second) == set()
    assert [(f.name, f.fmt, f.entries) for f in second] == [
        (f.name, f.fmt, f.entries) for f in first
    ]
    assert snapshot(out) == before


def test_one_changed_article_touches_only_its_feeds(
    tmp_path: Path, config: Config, store, rendered
) -> None:
    out = tmp_path / "feeds"
    build_feeds(config, store, out)
    before = snapshot(out)
    add(store, "b", 1, title="b 1, edited")
    rendered.clear()
    written = build_feeds(config, store, out)  # every feed asked for, as `feedmill build`
    assert sorted(rendered) == ["ab", "all", "b"]
    touched = {"b", "ab", "all"}
    assert changed(written) == {f"{n}.{e}" for n in touched for e in ("rss", "atom", "json")}
    after = snapshot(out)
    for name, state in before.items():
        if name.split(".")[0] in touched:
            assert after[name][0] != state[0], name
            assert b"b 1, edited" in after[name][0]
        else:
            assert after[name] == state, name  # same bytes, mtime and inode


def test_after_a_run_only_its_source_and_the_feeds_showing_it(
    tmp_path: Path, config: Config, store, rendered
) -> None:
    """What the crawler asks for after a run of ``c``: ``c`` and ``all``; ``c`` has no
    new article, so neither is rendered again."""
    out = tmp_path / "feeds"
    build_feeds(config, store, out)
    rendered.clear()
    assert changed(build_feeds(config, store, out, ["c", "all"])) == set()
    assert rendered == []
    add(store, "c", 7)
    assert changed(build_feeds(config, store, out, ["c", "all"])) == {
        f"{n}.{e}" for n in ("c", "all") for e in ("rss", "atom", "json")
    }
    assert rendered == ["c", "all"]


@pytest.mark.parametrize("damage", ["delete", "edit", "record"])
def test_a_feed_changed_behind_the_builds_back_is_rendered_again(
    tmp_path: Path, config: Config, store, rendered, damage: str
) -> None:
    out = tmp_path / "feeds"
    build_feeds(config, store, out)
    good = (out / "a.atom").read_bytes()
    if damage == "delete":
        (out / "a.atom").unlink()
    elif damage == "edit":
        (out / "a.atom").write_bytes(b"<feed/>")
    else:
        (out / ".a.inputs").write_text("{not json", encoding="utf-8")
    rendered.clear()
    written = build_feeds(config, store, out, ["a"])
    assert rendered == ["a"]
    assert (out / "a.atom").read_bytes() == good
    assert changed(written) == (set() if damage == "record" else {"a.atom"})
    rendered.clear()
    build_feeds(config, store, out, ["a"])
    assert rendered == []  # recorded again


def test_start_up_sweep_removes_temp_files_of_writers_that_are_gone(tmp_path: Path) -> None:
    """A kill -9 mid-write leaves a dot temp file; a feed that never changes again is
    never rewritten, so ``feedmill serve`` sweeps them at start-up (remove_abandoned)."""
    import os
    import subprocess
    import time

    from feeds.build import remove_abandoned

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f".all.json.{gone.pid}.k2j4x9q1.tmp"
    # A writer killed with its service is a zombie until its parent reaps it (late, or
    # never where pid 1 is no init): its pid still answers kill(0), yet it writes nothing.
    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.01)
    undead = tmp_path / f".all.xml.{zombie.pid}.z0m81e00.tmp"
    live = tmp_path / f".all.rss.{os.getpid()}.a1b2c3d4.tmp"
    # The pid of a live process that started after the file was written: pids are
    # reused (pid_max is 32768 here), so that process is not the writer.
    reused = tmp_path / f".all.atom.{os.getpid()}.q8w7e6r5.tmp"
    for path in (dead, undead, live, reused, tmp_path / "all.json", tmp_path / ".all.inputs"):
        path.write_bytes(b"x")
    long_ago = time.time() - 30 * 24 * 3600
    os.utime(reused, (long_ago, long_ago))
    try:
        assert remove_abandoned(tmp_path) == 3
    finally:
        zombie.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, "all.json", ".all.inputs"]
    )
