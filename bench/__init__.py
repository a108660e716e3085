"""Benchmarks (``make bench``): medians and spreads, side by side with stock tools."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lambda_common.errors import BenchmarkError

REPO = Path(__file__).resolve().parents[1]


def ingestion_argv(events: int, topic: str, *extra: str) -> list[str]:
    """``python -m ingestion`` producing ``events`` synthetic events (seed 1) to ``topic``."""
    return [
        sys.executable,
        "-m",
        "ingestion",
        "--count",
        str(events),
        "--seed",
        "1",
        "--topic",
        topic,
        *extra,
    ]


def timed_run(
    argv: list[str], env: dict[str, str], what: str
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``argv`` from the repository as one process, its output captured: its seconds
    and the finished process; ``BenchmarkError`` with the output's end if it failed."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout[-400:] + done.stderr[-400:]).strip()
        raise BenchmarkError(f"{what} failed (exit {done.returncode}): {tail}")
    return elapsed, done


def summarize(benchmark: str, contender: str, events: int, rates: list[float]) -> dict[str, Any]:
    """One result row: median and spread of ``rates`` (the caller adds ``ratio``)."""
    return {
        "benchmark": benchmark,
        "contender": contender,
        "events": events,
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "runs": len(rates),
    }


def add_ratios(rows: list[dict[str, Any]], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Set each row's ``ratio``: its median over the stock tool's (``baseline``) median."""
    for row in rows:
        row["ratio"] = row["median"] / baseline["median"]
    return rows


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def peak_rss_mb(pid: int) -> float:
    """Sum of the peak resident set sizes (VmHWM) of ``pid`` and its live descendants:
    for the speed job, the Python driver and its JVM."""
    total_kb = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kb += int(line.split()[1])
    return total_kb / 1024
