"""The web crawl benchmark runs end to end (``--quick``); no timing is asserted, but an
unchanged refresh must not download any article page (that is behaviour)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT


def _has_nginx() -> bool:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=path) is not None


def test_web_crawl_quick(tmp_path: Path) -> None:
    if not _has_nginx() and not os.environ.get("CI"):
        pytest.skip("needs nginx (apt-get install -y nginx)")
    out = tmp_path / "web.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web_crawl.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "met?" in done.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["pages"] == 150
    for run in ("bare", "bare_trafilatura", "feedmill_rules", "feedmill_generic"):
        for key in ("wall_s", "cpu_s", "pages_per_s", "peak_rss_mb"):
            assert data[run][key] > 0, (run, key)
        assert data[run]["articles_200"] == 150, run
    assert data["fast_path"]["jsonld_ms"] > 0 and data["fast_path"]["no_jsonld_ms"] > 0
    refresh = data["feedmill_rules"]["refresh"]
    assert refresh["cpu_s"] > 0 and refresh["cpu_pct"] > 0
    assert refresh["articles"] == 0, refresh
    assert refresh["listings"] > 0
    assert refresh["crawl_cpu_s"] >= 0
    floor = data["process_floor"]
    assert floor["cpu_s"] > 0 and floor["listings"] == 1 and floor["articles"] == 0, floor
    assert len(data["rows"]) == 10
    assert {"figure", "feedmill", "baseline", "ratio", "target", "met"} <= set(data["rows"][0])
