"""Opt-in smoke test of docker-compose.yml (``make test-docker``): build the image, bring
the whole pipeline up, check its health from the host, stream events through the producer
service, check that ``serving_view`` counts them, and tear everything down with its volumes.

Runs only when asked (``LAMBDA_TEST_DOCKER=1``, which ``make test-docker`` sets) and a Docker
engine with the Compose plugin answers; otherwise it is skipped, saying which. It uses its
own Compose project name, so a stack started with ``make up`` keeps its volumes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "lambda-tweets-smoke"
EVENTS = 2000
HOST_PORTS = {9092: "Kafka", 9000: "MinIO", 5439: "PostgreSQL"}


def _why_not() -> str | None:
    """Why the smoke test cannot run here, or None."""
    if os.environ.get("LAMBDA_TEST_DOCKER") != "1":
        return "opt-in: `make test-docker` runs it (builds the image, starts the whole stack)"
    docker = shutil.which("docker")
    if docker is None:
        return "no Docker engine here: the docker command is not installed"
    for argv, what in (
        ([docker, "info"], "no Docker engine here: `docker info` failed"),
        ([docker, "compose", "version"], "no Docker Compose plugin: `docker compose` failed"),
    ):
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return f"{what} (no answer in 30 s)"
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return f"{what}: {lines[-1] if lines else 'exit ' + str(result.returncode)}"
    return None


def _compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    argv = ["docker", "compose", "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"), *args]
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def _host(*args: str) -> subprocess.CompletedProcess[str]:
    """A pipeline command on the host, against the published ports (reads the same .env)."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    busy = [f"{port} ({name})" for port, name in HOST_PORTS.items() if _port_in_use(port)]
    if busy:
        pytest.fail(f"host ports in use: {', '.join(busy)}; stop the local stack (make local-down)")
    _compose("--profile", "producer", "down", "-v", "--remove-orphans")
    try:
        up = _compose("up", "-d", "--build", timeout=3600)
        assert up.returncode == 0, f"docker compose up failed:\n{up.stdout}\n{up.stderr}"
        yield
    except BaseException:
        logs = _compose("--profile", "producer", "logs", "--no-color", "--tail", "40")
        print(logs.stdout[-20000:], file=sys.stderr)
        raise
    finally:
        _compose("--profile", "producer", "down", "-v", "--remove-orphans", timeout=300)


def _until(deadline_s: float, probe: object, what: str) -> None:
    assert callable(probe)
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        ok, last = probe()
        if ok:
            return
        time.sleep(5)
    pytest.fail(f"{what} not reached within {deadline_s:.0f}s; last: {last}")


def test_the_pipeline_runs_under_compose(stack: None) -> None:
    # 1. Healthy from the host, on the local stack's ports (what `make status` checks).
    def status() -> tuple[bool, str]:
        result = _host("serving_layer", "status")
        return result.returncode == 0, (result.stdout + result.stderr)[-2000:]

    _until(600, status, "make status OK")
    init_log = _compose("logs", "--no-color", "init").stdout
    assert "tables and serving_view ready" in init_log, init_log

    # 2. Events through the producer service (its profile), inside the network.
    produced = _compose(
        "--profile", "producer", "run", "--rm", "producer",
        "python", "-m", "ingestion", "--count", str(EVENTS),
        timeout=600,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stdout + produced.stderr

    # 3. The speed layer (and any batch cycle) brings them into serving_view, exactly.
    sql = "SELECT COALESCE(SUM(tweet_count), 0) AS tweets, COUNT(*) AS view_rows FROM serving_view"

    def counted() -> tuple[bool, object]:
        result = _host("serving_layer", "query", "--sql", sql, "--format", "json")
        if result.returncode != 0:
            return False, result.stderr.strip()[-500:]
        row = json.loads(result.stdout)[0]
        return row["tweets"] == EVENTS and row["view_rows"] > 0, row

    _until(900, counted, f"serving_view counting {EVENTS:,} tweets")
    assert _host("serving_layer", "status").returncode == 0
