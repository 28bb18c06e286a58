"""The benchmark suite runs end to end (``bench/run.py --quick``), once per test run.

No timing is asserted (the machines are noisy, and --quick figures are not the ones to
quote). What is asserted is that every script ran and reported its rows, and the
behaviour the figures rest on: an unchanged refresh downloads no article page and gets
304s for its listings, an unchanged store rewrites no feed file, the many-sources
service runs every refresh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from support import ROOT

ROW_KEYS = {"benchmark", "figure", "feedmill", "baseline", "ratio", "target", "met"}


def _has_nginx() -> bool:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return shutil.which("nginx", path=path) is not None and shutil.which("wrk") is not None


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not _has_nginx() and not os.environ.get("CI"):
        pytest.skip("needs nginx and wrk (apt-get install -y nginx wrk)")
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "met?" in done.stdout
    return json.loads(out.read_text(encoding="utf-8"))


def results(report: dict[str, Any], name: str) -> dict[str, Any]:
    bench = report["benchmarks"][name]
    assert bench["status"] == "ok", bench
    return bench["results"]


def test_every_benchmark_ran_and_reported_rows(report: dict[str, Any]) -> None:
    assert report["quick"] is True
    assert set(report["benchmarks"]) == {"files", "web", "feeds", "serving", "many"}
    for name in report["benchmarks"]:
        rows = results(report, name)["rows"]
        assert rows, name
        for row in rows:
            assert set(row) >= ROW_KEYS - {"benchmark"}, (name, row)
    assert {row["benchmark"] for row in report["rows"]} == set(report["benchmarks"])


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def test_files_benchmark(report: dict[str, Any]) -> None:
    data = results(report, "files")
    assert data["repeat"] == 1
    assert data["baseline"]["docs_per_s"] > 0
    for corpus in ("damaged", "clean"):
        feedmill, floor = data[corpus]["feedmill"], data[corpus]["floor"]
        for key in ("wall_s", "cpu_s", "docs_per_s", "refresh_cpu_s", "refresh_cpu_pct"):
            assert positive(feedmill[key]), (corpus, key)
        for key in ("inproc_refresh_cpu_s", "inproc_refresh_cpu_pct"):
            assert positive(feedmill[key]), (corpus, key)
        assert positive(floor["docs_per_s"])


def test_web_benchmark_refresh_fetches_no_article_and_gets_304s(report: dict[str, Any]) -> None:
    data = results(report, "web")
    pages = data["pages"]
    for run in ("bare", "bare_trafilatura", "feedmill_rules", "feedmill_generic"):
        for key in ("wall_s", "cpu_s", "pages_per_s"):
            assert positive(data[run][key]), (run, key)
        assert data[run]["articles_200"] == pages, run
    assert positive(data["fast_path"]["jsonld_ms"]) and positive(data["fast_path"]["no_jsonld_ms"])
    refresh = data["feedmill_rules"]["refresh"]
    assert refresh["articles"] == 0, refresh  # not timing: a behaviour
    assert refresh["listings"] == refresh["listings_304"] > 0
    floor = data["process_floor"]
    assert floor["listings"] == 1 and floor["articles"] == 0, floor


def test_feeds_benchmark_uses_the_index_and_rewrites_nothing_unchanged(
    report: dict[str, Any],
) -> None:
    data = results(report, "feeds")
    for key in ("feedmill_ms", "baseline_ms", "ratio", "query_ms"):
        assert positive(data[key]), (key, data[key])
    assert data["query_uses_index"] is True
    assert "articles_source_newest" in data["query_plan"]
    assert all(positive(size) for size in data["feed_bytes"].values())
    assert data["rebuild"]["rebuild_files_rewritten"] == 0
    assert data["rebuild"]["rebuild_untouched"] is True


def test_serving_benchmark_measures_feedmill_and_both_nginx_setups(
    report: dict[str, Any],
) -> None:
    data = results(report, "serving")
    assert data["feed_bytes"] > 100_000
    for server in ("feedmill", "nginx", "nginx_deploy"):
        for case in ("200", "304"):
            figures = data[server][case]
            for key in ("rps", "p50_ms", "p99_ms", "requests"):
                assert positive(figures[key]), (server, case, key, figures[key])
            assert figures["bad_status"] == 0, (server, case, figures)
    assert any("deploy/nginx.conf" in row["figure"] for row in data["rows"])


def test_many_sources_service_ran_every_refresh_without_fetching_articles(
    report: dict[str, Any],
) -> None:
    many = results(report, "many")
    service = many["service"]
    assert service["runs"] == service["runs_ok"] == many["sources"] * (1 + many["cycles"])
    assert service["article_pages_fetched_in_refreshes"] == 0
    assert service["listings_304"] == service["listings_in_refreshes"] > 0
    assert positive(service["cpu_per_refresh_s"])
    assert positive(service["rss_mb_end"])
