"""The feedmill CLI as a user runs it: the console script in a subprocess."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from feeds.store import SQLiteStore

from support import SEED_NAME, feedmill_command, run_feedmill

FORMATS = ("rss", "atom", "json")


def feed_files(data_dir: Path) -> list[Path]:
    return [data_dir / "feeds" / f"{name}.{fmt}" for name in ("seeds", "all") for fmt in FORMATS]


def test_crawl_prints_counts_and_feed_paths(project: Path) -> None:
    result = run_feedmill(project, "crawl")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "source",
        "kind",
        "outcome",
        "read",
        "new",
        "updated",
        "unchanged",
        "failed",
        "seconds",
    ]
    assert lines[1].split()[:8] == ["seeds", "files", "ok", "1", "1", "0", "0", "0"]
    for path in feed_files(project / "var"):
        assert path.exists()
        assert str(path) in result.stdout

    again = run_feedmill(project, "crawl")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[1].split()[:8] == [
        "seeds",
        "files",
        "ok",
        "1",
        "0",
        "0",
        "1",
        "0",
    ]
    assert "rewritten" not in again.stdout  # unchanged store, unchanged files


def test_crawl_reports_failed_documents_and_keeps_going(project: Path) -> None:
    (project / "seeds" / "empty.txt").write_bytes(b"")
    result = run_feedmill(project, "crawl")
    assert result.returncode == 0  # a bad document is not a failed source
    assert result.stdout.splitlines()[1].split()[:8] == [
        "seeds",
        "files",
        "ok",
        "2",
        "1",
        "0",
        "0",
        "1",
    ]
    assert "empty.txt" in result.stderr and "empty" in result.stderr


def test_crawl_exits_1_when_a_source_fails_outright(project: Path) -> None:
    (project / "seeds" / SEED_NAME).unlink()
    (project / "seeds").rmdir()
    result = run_feedmill(project, "crawl")
    assert result.returncode == 1
    assert "failed" in result.stdout.splitlines()[1]
    assert "does not exist" in result.stderr


def test_unknown_source_is_a_usage_error(project: Path) -> None:
    result = run_feedmill(project, "crawl", "nope")
    assert result.returncode == 2
    assert "no source named 'nope'" in result.stderr and "seeds" in result.stderr


def test_data_dir_option_and_environment(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "data"
    result = run_feedmill(project, "crawl", "--data-dir", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "feedmill.sqlite3").exists()
    assert not (project / "var").exists()
    db = sqlite3.connect(target / "feedmill.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM articles").fetchone()[0] == 1
    db.close()


def test_list_shows_sources_with_counts_and_last_run(project: Path) -> None:
    before = run_feedmill(project, "list")
    assert before.returncode == 0, before.stderr
    assert before.stdout.splitlines()[1].split()[:5] == ["seeds", "files", "every", "1h", "0"]
    assert "never" in before.stdout
    run_feedmill(project, "crawl")
    after = run_feedmill(project, "list")
    row = after.stdout.splitlines()[1].split()
    assert row[:5] == ["seeds", "files", "every", "1h", "1"]
    assert row[-3:] == ["ok", "1", "0"]


def test_runs_shows_history_newest_first(project: Path) -> None:
    run_feedmill(project, "crawl")
    run_feedmill(project, "crawl")
    result = run_feedmill(project, "runs", "seeds")
    assert result.returncode == 0
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[1] for row in rows] == ["2", "1"]
    assert [row[6] for row in rows] == ["0", "1"]  # new (started is two words)


def test_crawl_keeps_the_newest_keep_runs_of_the_history(project: Path) -> None:
    """``feedmill crawl`` from cron records runs as the service does: the same bound."""
    config = project / "feedmill.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[service]\n", "[service]\nkeep_runs = 2\n", 1), "utf-8")
    for _ in range(3):
        assert run_feedmill(project, "crawl", "-q").returncode == 0
    with SQLiteStore.in_data_dir(project / "var") as store:
        runs = store.runs("seeds", limit=10)
    assert [run.id for run in runs] == [3, 2]
    assert all(run.outcome == "ok" for run in runs)


def test_build_rewrites_deleted_feeds_from_the_store(project: Path) -> None:
    run_feedmill(project, "crawl")
    rss = project / "var" / "feeds" / "seeds.rss"
    original = rss.read_bytes()
    rss.unlink()
    result = run_feedmill(project, "build")
    assert result.returncode == 0, result.stderr
    assert rss.read_bytes() == original
    assert "seeds.rss  (1 entries, rewritten)" in result.stdout
    assert "all.rss  (1 entries, unchanged)" in result.stdout


def test_check_accepts_the_shipped_config_and_names_errors(project: Path) -> None:
    ok = run_feedmill(project, "check")
    assert ok.returncode == 0 and "ok (1 sources: seeds)" in ok.stdout
    config = project / "feedmill.toml"
    config.write_text(config.read_text(encoding="utf-8") + 'colour = "red"\n', encoding="utf-8")
    bad = run_feedmill(project, "check")
    assert bad.returncode == 1
    assert str(config) in bad.stderr and "source 'seeds'" in bad.stderr and "'colour'" in bad.stderr


def test_log_format_is_consistent_and_quiet_hides_info(project: Path) -> None:
    loud = run_feedmill(project, "-v", "crawl")
    assert loud.returncode == 0
    info = [line for line in loud.stderr.splitlines() if " INFO " in line]
    assert info and all(line[:4].isdigit() and ": " in line for line in info)
    quiet = run_feedmill(project, "crawl", "-q")
    assert quiet.returncode == 0
    assert " INFO " not in quiet.stderr


def test_ctrl_c_stops_the_crawl_and_records_it(project: Path) -> None:
    seed = (project / "seeds" / SEED_NAME).read_text(encoding="utf-8")
    for number in range(3000):
        (project / "seeds" / f"{number:05d}.txt").write_text(
            seed.replace("12355", str(10000 + number)), encoding="utf-8"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    child = subprocess.Popen(
        [feedmill_command(), "crawl"],
        cwd=project,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store_file = project / "var" / "feedmill.sqlite3"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until articles are being stored
        if store_file.exists():
            with SQLiteStore(store_file) as store:
                if sum(store.counts().values()) > 0:
                    break
        time.sleep(0.1)
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = child.communicate(timeout=60)
    assert child.returncode != 0, out + err
    with SQLiteStore(store_file) as store:
        run = store.runs("seeds")[0]
        stored = sum(store.counts().values())
    assert run.outcome == "cancelled", (run, err)
    assert 0 < stored < 3001
    assert run.new == stored  # every article the run reports is in the store, and no more


def test_db_status_and_upgrade_bring_an_old_store_up_to_date(project: Path) -> None:
    import sqlite3

    from feeds import store as store_module

    data = project / "var"
    data.mkdir()
    db = sqlite3.connect(data / "feedmill.sqlite3")
    db.executescript(store_module._MIGRATIONS[0])  # a version-1 store
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    latest = store_module.SCHEMA_VERSION
    status = run_feedmill(project, "db", "status")
    assert status.returncode == 1
    assert f"schema version 1, needs 'feedmill db upgrade' to {latest}" in status.stdout
    upgraded = run_feedmill(project, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema upgraded from version 1 to {latest}" in upgraded.stdout
    again = run_feedmill(project, "db", "status")
    assert again.returncode == 0 and f"schema version {latest}, current" in again.stdout


def test_db_upgrade_creates_the_postgres_schema(project: Path, postgres) -> None:  # type: ignore[no-untyped-def]
    from feeds.store import SCHEMA_VERSION

    url = postgres.database_url(postgres.new_schema())
    config = project / "feedmill.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(f"[service]\ndatabase_url = {url!r}\n" + text.replace("[service]\n", "", 1))
    before = run_feedmill(project, "db", "status")
    assert "schema version 0, needs 'feedmill db upgrade'" in before.stdout, before.stderr
    upgraded = run_feedmill(project, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"schema upgraded from version 0 to {SCHEMA_VERSION}" in upgraded.stdout
    assert "postgresql://" in upgraded.stdout
