"""Benchmarks (``make bench``): medians and spreads, side by side with stock tools."""

from __future__ import annotations

import sys


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
