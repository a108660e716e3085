"""Benchmarks (``make bench``): medians and spreads, side by side with stock tools."""

from __future__ import annotations

import statistics
import sys
from typing import Any


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
