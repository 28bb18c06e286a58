"""Small helpers shared by the benchmarks: timing, medians, a table printer, JSON output.

Benchmarks compare against baselines measured in the same run (machines are noisy), so
the helpers deal in repetitions and ratios, never in absolute thresholds.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


@dataclass(slots=True)
class Timing:
    """Wall and CPU seconds of one measured piece of work."""

    wall: float
    cpu: float


def time_call(fn: Callable[[], T]) -> tuple[T, Timing]:
    """Run ``fn`` in this process; wall time and this process's CPU time."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, Timing(time.perf_counter() - wall0, time.process_time() - cpu0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_child(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 600,
) -> tuple[subprocess.CompletedProcess[str], Timing]:
    """Run a child process to completion; its wall time and CPU (RUSAGE_CHILDREN delta).

    Raises RuntimeError with the child's stderr tail when it exits non-zero.
    """
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    result = subprocess.run(
        list(args),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    timing = Timing(time.perf_counter() - wall0, _children_cpu() - cpu0)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}")
    return result, timing


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without FEEDMILL_*/SCRAPY_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEEDMILL_", "SCRAPY_"))}
    env.update(extra)
    return env


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def repeat(n: int, fn: Callable[[], T]) -> list[T]:
    """``fn()`` ``n`` times (at least once)."""
    return [fn() for _ in range(max(1, n))]


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


def fmt(value: Any, digits: int = 1) -> str:
    """Numbers with thousands separators; everything else as str."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "NO", None: "-"}[value]
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table: first column left-aligned, the others right-aligned."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in cells:
        print(line(row))


def write_json(path: str | Path | None, data: Any) -> None:
    """Write ``data`` as indented JSON when ``path`` is given."""
    if path:
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", "utf-8")
