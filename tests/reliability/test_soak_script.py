"""bench/soak.py keeps working: a 20-second soak of a few sources, its JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT


def test_soak_script_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            *("--seconds", "20", "--sources", "5", "--every", "3", "--sample", "5"),
            *("--json", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["service_alive_at_end"] and report["service_exit_status"] == 0
    assert report["runs_completed"] >= 1
    assert report["runs_failed"] == 0, report["runs_by_outcome"]
    assert report["feed_requests"] >= 20 and report["feed_errors"] == 0
    assert 0 < report["feed_p50_ms"] <= report["feed_p99_ms"] <= report["feed_max_ms"]
    assert report["rss_mb_start"] > 0 and report["rss_mb_end"] > 0
    assert report["fds_start"] > 0 and report["fds_max"] < 200
    assert report["store_mb_end"] > 0
    assert len(report["samples"]) >= 3
    for line in ("runs completed", "serve RSS MB", "serve open fds", "feed response ms"):
        assert line in result.stdout
