"""The files throughput benchmark runs end to end (``--quick``); no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support import ROOT


def test_files_throughput_quick(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "files_throughput.py"),
            "--quick",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "met?" in result.stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["docs"] == 500 and data["repeat"] == 1
    assert data["baseline"]["docs_per_s"] > 0
    for corpus in ("damaged", "clean"):
        feedmill, floor = data[corpus]["feedmill"], data[corpus]["floor"]
        for key in ("wall_s", "cpu_s", "docs_per_s", "refresh_cpu_s", "refresh_cpu_pct"):
            assert feedmill[key] > 0, (corpus, key)
        for key in ("inproc_refresh_cpu_s", "inproc_refresh_cpu_pct"):
            assert feedmill[key] > 0, (corpus, key)
        assert floor["docs_per_s"] > 0
    assert len(data["rows"]) == 8
    assert {"figure", "feedmill", "baseline", "ratio", "target", "met"} <= set(data["rows"][0])
