"""Serving speed: `feedmill serve` against nginx on the same ~200 KB feed file.

    python bench/serving.py [--quick] [--duration S] [--json OUT]

Builds a data directory (a generated store of one source with 50 articles of ~3 KB, and
its feeds written by ``feeds.build.build_feeds``), starts ``feedmill serve`` (a child
process on a free loopback port; the source has no schedule, so nothing crawls) and
nginx (a generated minimal configuration, ``daemon off``, one worker process, serving
the same feed file with ``etag on``), then runs ``wrk -t2 -c64 -d<S>s --latency`` against
each for

- 200: the full RSS feed, no Accept-Encoding (so no gzip on either side);
- 304: ``If-None-Match`` with the ETag that server gave.

Targets: feedmill ≥ 0.2x nginx's req/s for the 200 and ≥ 0.15x for the 304, and a p99
latency under 50 ms at 64 connections. A third server is measured the same way: nginx
with the server block of ``deploy/nginx.conf`` (the configuration shipped for larger
deployments: the feed files straight from the data directory), its ``listen``, ``root``
and ``proxy_pass`` pointed at this run's ports and folder. Exit status 2 when nginx or
wrk is missing. Everything listens on 127.0.0.1 only; the servers are stopped at the end.
``--json OUT`` writes the figures, with a ``rows`` list (figure, feedmill, baseline,
ratio, target, met) for a combined report.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
for entry in (ROOT, BENCH):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from feeds_render import make_store  # noqa: E402

from feeds.build import build_feeds, feeds_dir  # noqa: E402
from feeds.config import load_config  # noqa: E402
from feeds.store import STORE_FILE, SQLiteStore  # noqa: E402

SOURCE = "src000"  # the name make_store gives the first source
FEED = f"/feeds/{SOURCE}.rss"
CONNECTIONS, THREADS = 64, 2
TARGETS = {"200": 0.2, "304": 0.15}
P99_TARGET_MS = 50.0

CONFIG = f"""\
[service]
base_url = "http://127.0.0.1:8080"
title = "bench"
data_dir = "data"
feed_size = 50

[sources.{SOURCE}]
kind = "files"
path = "docs"
title = "Bench source"
language = "en"
"""

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {data_dir};
        location /feeds/ {{
            types {{
                application/rss+xml rss;
                application/atom+xml atom;
                application/feed+json json;
            }}
            charset utf-8;
            charset_types application/rss+xml application/atom+xml application/feed+json;
            etag on;
            add_header Cache-Control "public, max-age=3600" always;
            gzip on;
            gzip_types application/rss+xml application/atom+xml application/feed+json;
            open_file_cache max=100 inactive=60s;
            sendfile on;
            tcp_nopush on;
        }}
    }}
}}
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_ready(url: str, process: subprocess.Popen[bytes], logfile: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}:\n{logfile.read_text()[-3000:]}")
        try:
            if get(url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s:\n{logfile.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def feedmill_command() -> list[str]:
    script = shutil.which("feedmill", path=str(Path(sys.executable).parent)) or shutil.which(
        "feedmill"
    )
    return [script] if script else [sys.executable, "-m", "feeds"]


def prepare(workdir: Path) -> Path:
    """The project folder: a config and a data dir whose feeds are already built."""
    (workdir / "docs").mkdir(parents=True)
    config_path = workdir / "feedmill.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path)
    data_dir = workdir / "data"
    make_store(data_dir / STORE_FILE, 50, 1, log)
    with SQLiteStore.in_data_dir(data_dir) as store:
        build_feeds(config, store, feeds_dir(data_dir), [SOURCE])
    return data_dir


@contextmanager
def feedmill_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDMILL_")}
    logfile = workdir / "feedmill.log"
    with logfile.open("wb") as handle:
        process = subprocess.Popen(
            [
                *feedmill_command(),
                *("--config", str(workdir / "feedmill.toml"), "serve"),
                *("--host", "127.0.0.1", "--port", str(port)),
            ],
            cwd=workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/healthz", process, logfile, 60)
        yield base
    finally:
        stop(process)


@contextmanager
def run_nginx(
    workdir: Path, template: str, ready_path: str, nginx: str, **values: object
) -> Iterator[tuple[str, Path]]:
    """nginx on a free port with ``template`` (formatted with ``user``, ``prefix``,
    ``port`` and ``values``) in ``workdir/nginx``; yields its base URL and prefix."""
    port = free_port()
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    (prefix / "logs").mkdir()
    # As root, nginx's workers would switch to "nobody", who cannot read a private temp dir.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = prefix / "nginx.conf"
    conf.write_text(
        template.format(user=user, prefix=prefix, port=port, **values), encoding="utf-8"
    )
    logfile = prefix / "error.log"
    logfile.touch()
    process = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(prefix)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + ready_path, process, logfile, 30)
        yield base, prefix
    finally:
        stop(process, signal.SIGQUIT)  # graceful shutdown


@contextmanager
def nginx_server(workdir: Path, data_dir: Path, nginx: str) -> Iterator[str]:
    with run_nginx(workdir, NGINX_CONF, FEED, nginx, data_dir=data_dir) as (base, _):
        yield base


DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
DEPLOY_MAIN = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    keepalive_requests 1000000;
{server}
}}
"""


def deploy_template(data_dir: Path, feedmill_port: int) -> str:
    """``deploy/nginx.conf``'s server block as shipped, with this run's address, data
    directory and feedmill port, inside a minimal main configuration (a template for
    :func:`run_nginx`, so its braces are doubled)."""
    block = DEPLOY_CONF.read_text(encoding="utf-8")
    replacements = {
        "    listen 80;\n": "    listen 127.0.0.1:{port};\n",
        "    listen [::]:80;\n": "",
        "root /var/lib/feedmill;": f"root {data_dir};",
        "http://127.0.0.1:8080": f"http://127.0.0.1:{feedmill_port}",
    }
    for old, new in replacements.items():
        if old not in block:
            raise RuntimeError(f"{DEPLOY_CONF}: expected {old.strip()!r} in it")
        block = block.replace(old, new)
    escaped = block.replace("{", "{{").replace("}", "}}").replace("{{port}}", "{port}")
    return DEPLOY_MAIN.replace("{server}", escaped)


@contextmanager
def deploy_nginx_server(workdir: Path, data_dir: Path, nginx: str) -> Iterator[str]:
    where = workdir / "deploy"
    where.mkdir()
    template = deploy_template(data_dir, free_port())
    with run_nginx(where, template, FEED, nginx) as (base, _):
        yield base


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    total = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "requests": int(total.group(1)),
        "bad_status": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
    }


def run_wrk(wrk: str, url: str, duration: int, headers: dict[str, str]) -> dict[str, float]:
    command = [wrk, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=duration + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return parse_wrk(done.stdout)


def measure(wrk: str, base: str, duration: int) -> dict[str, dict[str, float]]:
    """Both cases against one server, after checking it answers them as expected."""
    status, headers, body = get(base + FEED)
    if status != 200 or not body.startswith(b"<?xml"):
        raise RuntimeError(f"{base}{FEED}: status {status}")
    etag = headers["ETag"]
    if get(base + FEED, {"If-None-Match": etag})[0] != 304:
        raise RuntimeError(f"{base}{FEED}: If-None-Match {etag} is not a 304")
    results = {}
    for case, extra in (("200", {}), ("304", {"If-None-Match": etag})):
        results[case] = run_wrk(wrk, base + FEED, duration, extra)
        results[case]["bytes"] = len(body) if case == "200" else 0
    return results


def print_table(result: dict[str, object]) -> None:
    feedmill, nginx = result["feedmill"], result["nginx"]  # type: ignore[assignment]
    print(
        f"feed {FEED}: {result['feed_bytes']:,} bytes; wrk -t{THREADS} -c{CONNECTIONS} "
        f"-d{result['duration']}s --latency; nginx: 1 worker process"
    )
    header = (
        f"{'case':14} {'feedmill req/s':>14} {'nginx req/s':>12} {'ratio':>6} {'target':>7} "
        f"{'met':>3}  {'p50 ms f/n':>13} {'p99 ms f/n':>13} {'p99<50':>6}"
    )
    print(header)
    print("-" * len(header))
    for case in ("200", "304"):
        f, n = feedmill[case], nginx[case]  # type: ignore[index]
        deploy = result["nginx_deploy"][case]  # type: ignore[index]
        ratio = f["rps"] / n["rps"]
        met = "yes" if ratio >= TARGETS[case] else "NO"
        p99_met = "yes" if f["p99_ms"] < P99_TARGET_MS else "NO"
        label = "200 (no gzip)" if case == "200" else "304 (ETag)"
        print(
            f"{label:14} {f['rps']:14.0f} {n['rps']:12.0f} {ratio:6.2f} "
            f"{'≥ ' + format(TARGETS[case], 'g'):>7} {met:>3}  "
            f"{f['p50_ms']:6.2f}/{n['p50_ms']:<6.2f} {f['p99_ms']:6.2f}/{n['p99_ms']:<6.2f} "
            f"{p99_met:>6}"
        )
        print(
            f"{'':14} deploy/nginx.conf: {deploy['rps']:.0f} req/s "
            f"({deploy['rps'] / n['rps']:.2f}x the minimal nginx), p99 {deploy['p99_ms']:.2f} ms"
        )


def table_rows(result: dict[str, object]) -> list[dict[str, object]]:
    """The figures as rows for the combined report (figure, feedmill, baseline, ratio,
    target, met); the deploy/nginx.conf rows put that nginx in the feedmill column."""
    feedmill, nginx, deploy = result["feedmill"], result["nginx"], result["nginx_deploy"]
    assert isinstance(feedmill, dict) and isinstance(nginx, dict) and isinstance(deploy, dict)
    rows: list[dict[str, object]] = []
    for case, label in (("200", "feed 200, gzip off"), ("304", "304")):
        ratio = feedmill[case]["rps"] / nginx[case]["rps"]
        rows.append(
            {
                "figure": f"built-in server vs nginx, {label} (req/s)",
                "feedmill": feedmill[case]["rps"],
                "baseline": nginx[case]["rps"],
                "ratio": round(ratio, 3),
                "target": f"≥ {TARGETS[case]:g}x",
                "met": ratio >= TARGETS[case],
            }
        )
    for case in ("200", "304"):
        rows.append(
            {
                "figure": f"p99 at {CONNECTIONS} connections, {case}, vs nginx (ms)",
                "feedmill": feedmill[case]["p99_ms"],
                "baseline": nginx[case]["p99_ms"],
                "ratio": round(feedmill[case]["p99_ms"] / nginx[case]["p99_ms"], 3),
                "target": f"< {P99_TARGET_MS:g} ms",
                "met": feedmill[case]["p99_ms"] < P99_TARGET_MS,
            }
        )
    for case, label in (("200", "feed 200, gzip off"), ("304", "304")):
        rows.append(
            {
                "figure": f"nginx with deploy/nginx.conf vs minimal nginx, {label} (req/s)",
                "feedmill": deploy[case]["rps"],
                "baseline": nginx[case]["rps"],
                "ratio": round(deploy[case]["rps"] / nginx[case]["rps"], 3),
                "target": "report",
                "met": None,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, help="seconds per wrk run (10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="3-second wrk runs")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = parser.parse_args(argv)
    duration = args.duration or (3 if args.quick else 10)
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    wrk = shutil.which("wrk")
    missing = [name for name, path in (("nginx", nginx), ("wrk", wrk)) if not path]
    if missing:
        print(
            f"serving benchmark needs {' and '.join(missing)} "
            "(Debian: apt-get install -y nginx wrk)",
            file=sys.stderr,
        )
        return 2
    assert nginx and wrk
    workdir = Path(tempfile.mkdtemp(prefix="feedmill-serving-"))
    try:
        data_dir = prepare(workdir)
        feed_bytes = (feeds_dir(data_dir) / f"{SOURCE}.rss").stat().st_size
        with feedmill_server(workdir) as base:
            log(f"feedmill serve at {base}: wrk {duration}s x 2")
            feedmill = measure(wrk, base, duration)
        with nginx_server(workdir, data_dir, nginx) as base:
            log(f"nginx at {base}: wrk {duration}s x 2")
            nginx_result = measure(wrk, base, duration)
        with deploy_nginx_server(workdir, data_dir, nginx) as base:
            log(f"nginx with deploy/nginx.conf at {base}: wrk {duration}s x 2")
            deploy_result = measure(wrk, base, duration)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result: dict[str, object] = {
        "feed_bytes": feed_bytes,
        "duration": duration,
        "connections": CONNECTIONS,
        "feedmill": feedmill,
        "nginx": nginx_result,
        "nginx_deploy": deploy_result,
        "ratios": {
            case: round(feedmill[case]["rps"] / nginx_result[case]["rps"], 3) for case in TARGETS
        },
        "targets": TARGETS,
        "p99_target_ms": P99_TARGET_MS,
        "met": {
            **{
                case: feedmill[case]["rps"] >= TARGETS[case] * nginx_result[case]["rps"]
                for case in TARGETS
            },
            "p99": all(feedmill[case]["p99_ms"] < P99_TARGET_MS for case in TARGETS),
        },
    }
    result["rows"] = table_rows(result)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
