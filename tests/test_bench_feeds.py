"""The feed benchmarks run end to end (`--quick`) and report their figures.

No timing is asserted: the machine is shared and noisy; the scripts print ratios against
baselines measured in the same run, and these tests only check that they produce them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

BENCH = ROOT / "bench"


def run_bench(script: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    return subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_feeds_render_bench_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "render.json"
    done = run_bench("feeds_render.py", out)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    for key in (
        "feedmill_ms",
        "baseline_ms",
        "ratio",
        "query_ms",
        "render_rss_ms",
        "render_atom_ms",
        "render_json_ms",
    ):
        assert positive(result[key]), (key, result[key])
    assert result["articles"] == 20_000
    assert result["query_uses_index"] is True
    assert "articles_source_newest" in result["query_plan"]
    assert all(positive(size) for size in result["feed_bytes"].values())
    assert isinstance(result["met"], bool)
    assert "latest-50 RSS+Atom+JSON" in done.stdout
    assert result["rebuild"]["rebuild_files_rewritten"] == 0  # not timing: a behaviour
    assert result["rebuild"]["rebuild_untouched"] is True
    check_rows(result["rows"])


def check_rows(rows: object) -> None:
    """The rows a combined report merges: figure, feedmill, baseline, ratio, target, met."""
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == {"figure", "feedmill", "baseline", "ratio", "target", "met"}, row
        assert isinstance(row["figure"], str) and row["figure"]
        assert isinstance(row["feedmill"], int | float)
        assert row["met"] in (True, False, None)
    assert any(isinstance(row["met"], bool) for row in rows)


def test_serving_bench_reports_its_figures(tmp_path: Path) -> None:
    missing = [tool for tool in ("nginx", "wrk") if not shutil.which(tool, path=_path())]
    if missing and not os.environ.get("CI"):
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install -y nginx wrk)")
    out = tmp_path / "serving.json"
    done = run_bench("serving.py", out)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["feed_bytes"] > 100_000
    for server in ("feedmill", "nginx", "nginx_deploy"):
        for case in ("200", "304"):
            figures = result[server][case]
            for key in ("rps", "p50_ms", "p99_ms", "requests"):
                assert positive(figures[key]), (server, case, key, figures[key])
            assert figures["bad_status"] == 0, (server, case, figures)
    assert all(positive(ratio) for ratio in result["ratios"].values())
    assert set(result["met"]) == {"200", "304", "p99"}
    assert "304 (ETag)" in done.stdout
    assert "deploy/nginx.conf" in done.stdout
    check_rows(result["rows"])
    assert any("deploy/nginx.conf" in row["figure"] for row in result["rows"])


def _path() -> str:
    """PATH plus the sbin folders, where Debian puts nginx."""
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
