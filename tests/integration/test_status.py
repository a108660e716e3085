"""make status against the real broker, S3 server and warehouse, run as the CLI."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

from batch_layer.cycle import run_cycle
from lambda_common.warehouse import Warehouse

from .helpers import Lane, run_module, send_raw


def _status(lane: Lane, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_module("serving_layer", "status", *args, env={**lane.env(), **env}, timeout=60)


def _lines(stdout: str) -> dict[str, tuple[str, str]]:
    """check name -> (level, detail), from the table (summary line left out)."""
    out = {}
    for line in stdout.splitlines()[:-1]:
        level, name, detail = re.split(r"\s+", line, maxsplit=2)
        out[name] = (level, detail)
    return out


def test_fresh_lane_warns_and_exits_0(lane: Lane) -> None:
    before = _status(lane)
    assert before.returncode == 0, before.stdout + before.stderr
    checks = _lines(before.stdout)
    assert checks["warehouse.schema"] == (
        "WARN",
        "pipeline not set up yet (run make batch-once or make demo)",
    )

    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    result = _status(lane)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = _lines(result.stdout)
    assert checks["kafka.topic"] == ("OK", f"{lane.settings.kafka_topic}: 3 partitions, 0 messages")
    for p in range(3):
        assert checks[f"kafka.partition.{p}"] == ("OK", "end 0 committed - lag 0")
    assert checks["batch.horizon"][0] == "WARN"
    assert "no batch cycle yet" in checks["batch.horizon"][1]
    assert checks["speed.last-batch"][0] == "WARN"
    assert checks["rows.serving_view"] == ("OK", "0 rows, 0 tweets")
    assert checks["serving.integrity"][0] == "OK"
    assert not any(level == "FAIL" for level, _ in checks.values())
    assert result.stdout.splitlines()[-1] == f"status: {len(checks) - 2} OK, 2 WARN, 0 FAIL"

    as_json = _status(lane, "--format", "json")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["status"] == "WARN"
    assert [c["name"] for c in document["checks"]] == list(checks)


def _event(tweet_id: int, created_at: datetime) -> tuple[bytes, bytes]:
    event = {
        "tweet_id": str(tweet_id),
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_id": f"u{tweet_id}",
        "followers_count": 10,
        "favorite_count": 1,
        "retweet_count": 2,
        "location": "Berlin",
    }
    return str(tweet_id).encode(), json.dumps(event).encode()


def test_after_a_batch_cycle_and_a_micro_batch_all_is_ok(lane: Lane) -> None:
    now = datetime.now(UTC)
    # Two hours back: before the horizon, so served from the batch view.
    events = [_event(1000 + i, now - timedelta(hours=2)) for i in range(30)]
    send_raw(lane.settings, [*events, (b"9", b"not json")])
    result = run_cycle(lane.settings)
    assert (result.events, result.rejects) == (30, 1)
    naive = now.replace(tzinfo=None)
    with Warehouse(lane.settings) as wh:
        wh.execute(
            "INSERT INTO speed_batches (batch_id, input_rows, rejects, rows_written, "
            "duration_ms, max_event_time, finished_at) VALUES (0, 31, 1, 0, 120, %s, %s)",
            (naive - timedelta(hours=2), naive),
        )

    status = _status(lane)
    assert status.returncode == 0, status.stdout + status.stderr
    checks = _lines(status.stdout)
    assert {level for level, _ in checks.values()} == {"OK"}, status.stdout
    assert status.stdout.splitlines()[-1] == f"status: {len(checks)} OK, 0 WARN, 0 FAIL"
    assert checks["kafka.topic"][1].startswith(f"{lane.settings.kafka_topic}: 3 partitions, 31 ")
    partitions = [checks[f"kafka.partition.{p}"][1] for p in range(3)]
    assert all(line.endswith(" lag 0") for line in partitions), partitions
    ends = [int(re.match(r"end (\d+)", line)[1]) for line in partitions]  # type: ignore[index]
    assert sum(ends) == 31
    assert checks["batch.rejects"][1] == "1 of 31 messages (3.2%)"
    assert checks["speed.rejects"][1] == "1 of 31 messages in the last day (3.2%)"
    assert checks["speed.last-batch"][1].startswith("batch 0 finished ")
    assert checks["rows.raw_tweets"][1] == "30"
    assert checks["rows.batch_view"][1] == "1"
    assert checks["rows.speed_view"][1] == "0"
    assert checks["rows.serving_view"][1] == "1 row, 30 tweets"
    assert checks["serving.integrity"][0] == "OK"


def test_unreachable_warehouse_fails_in_one_line_without_the_password(lane: Lane) -> None:
    password = "pw-that-must-not-show"
    # make status reads the warehouse as QUERY_DSN's user.
    dsn = f"postgresql://lambda_reader:{password}@127.0.0.1:1/lambda"
    result = _status(lane, QUERY_DSN=dsn)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert password not in output
    assert "Traceback" not in output
    checks = _lines(result.stdout)
    level, detail = checks["warehouse"]
    assert level == "FAIL"
    assert "warehouse at postgresql://lambda_reader:***@127.0.0.1:1/lambda is unreachable" in detail
    # The other services are still checked.
    assert checks["kafka"][0] == "OK"
    assert checks["s3"][0] == "OK"
    assert result.stdout.splitlines()[-1].endswith(" 1 FAIL")
