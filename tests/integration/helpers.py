"""Small helpers the integration tests share: read a whole topic back, run a CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kafka import KafkaConsumer

from lambda_common.broker import client_config
from lambda_common.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def consume_all(
    settings: Settings, topic: str, expected: int, *, idle_ms: int = 15_000
) -> list[tuple[bytes, bytes]]:
    """(key, value) of the topic's messages from the start: stop at ``expected`` or when idle."""
    consumer = KafkaConsumer(
        topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
        **client_config(settings),
    )
    try:
        got: list[tuple[bytes, bytes]] = []
        for message in consumer:
            got.append((message.key, message.value))
            if len(got) >= expected:
                break
        return got
    finally:
        consumer.close()


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
