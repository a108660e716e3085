"""Landing's pure rules: plans, chunks, object keys, encoding, horizon."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from batch_layer.landing import (
    Message,
    PartitionPlan,
    RowsFile,
    encode_chunk,
    master_record,
    object_key,
    plan_key,
    read_master_object,
)
from batch_layer.plan import horizon_for
from batch_layer.staging import CsvStream
from lambda_common.contract import Event, parse_event
from lambda_common.contract.rows import row_from_master

NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
TS = int(datetime(2026, 11, 20, 23, 59, tzinfo=UTC).timestamp() * 1000)


def _event(i: int, location: str | None = " Paris ") -> bytes:
    return Event(
        tweet_id=str(1000 + i),
        created_at=datetime(2026, 11, 21, 10, 15, i, tzinfo=UTC),
        user_id="u\x00nul",
        followers_count=10,
        favorite_count=i,
        retweet_count=0,
        location=location,
    ).to_json_bytes()


def test_plan_chunks_are_fixed_by_the_plan() -> None:
    plan = PartitionPlan("tweets", 2, 100, 350, chunk_events=100)
    assert plan.chunks() == [(100, 199), (200, 299), (300, 349)]
    assert PartitionPlan.from_json(plan.to_json()) == plan
    assert (
        plan.key
        == plan_key("tweets", 2, 100)
        == "plans/topic=tweets/partition=2/from-00000000000000000100.json"
    )


def test_object_keys_are_a_pure_function_of_their_records() -> None:
    key = object_key("master", "tweets", 1, 0, 99, TS)
    assert key == (
        "master/topic=tweets/dt=2026-11-20/partition=1/"
        "tweets-1-00000000000000000000-00000000000000000099.jsonl.gz"
    )
    assert object_key("master", "tweets", 1, 0, 99, TS) == key


def test_encode_chunk_splits_valid_and_rejected_and_is_byte_stable() -> None:
    messages = [
        Message(0, TS, _event(0)),
        Message(1, TS, b"{oops"),
        Message(2, TS, _event(2, None)),
    ]
    chunk = encode_chunk("tweets", 1, 0, 2, messages, NOW)
    again = encode_chunk("tweets", 1, 0, 2, messages, NOW)
    assert chunk.body == again.body and chunk.rejects_body == again.rejects_body
    assert (chunk.landed.events, chunk.landed.rejects) == (2, 1)
    assert chunk.landed.rejects_key is not None and chunk.landed.rejects_key.startswith("rejects/")
    records = list(read_master_object(chunk.body))
    # Integers are JSON strings in the object (lambda_common.contract.landed), ints once read.
    assert [r["kafka_offset"] for r in records] == ["0", "2"]
    assert [row_from_master(r)["kafka_offset"] for r in records] == [0, 2]
    assert records[0]["location"] == "Paris" and records[1]["location"] == "(unknown)"
    assert records[0]["event"]["location"] == " Paris "  # the master dataset keeps it verbatim
    assert records[0]["user_id"] == "u\ufffdnul"  # the warehouse cannot hold NUL
    assert records[0]["event_hour"] == "2026-11-21 10:00:00"
    assert chunk.rejects_body is not None
    (reject,) = read_master_object(chunk.rejects_body)
    assert (reject["offset"], base64.b64decode(reject["value_b64"])) == (1, b"{oops")
    assert "JSON" in reject["reason"]


def test_horizon_trails_the_cycle_by_the_allowed_lateness() -> None:
    assert horizon_for(NOW, 600) == datetime(2026, 11, 21, 11, 0)
    assert horizon_for(datetime(2026, 11, 21, 12, 15, tzinfo=UTC), 600) == datetime(
        2026, 11, 21, 12, 0
    )


def test_object_keys_parse_back() -> None:
    from batch_layer.landing import parse_object_key

    assert parse_object_key(object_key("master", "tweets", 7, 100, 199, TS)) == (7, 100, 199)


def _messages() -> list[Message]:
    values = [_event(i, loc) for i, loc in enumerate([" Paris ", None, 'a "quoted", \nline', ""])]
    return [Message(i, TS, v) for i, v in enumerate([*values[:2], b"{oops", None, *values[2:]])]


def test_rows_file_is_what_the_load_from_s3_would_copy() -> None:
    # The cycle loads the CSV landing wrote; recompute loads the object from S3: the
    # warehouse must get the same rows, byte for byte, either way.
    out = io.StringIO()
    chunk = encode_chunk("tweets", 1, 0, 5, _messages(), NOW, RowsFile(out))
    from_s3 = io.BufferedReader(CsvStream(read_master_object(chunk.body)), buffer_size=1 << 16)
    assert out.getvalue().encode() == from_s3.read()
    assert out.getvalue().count("\n") >= chunk.landed.events == 4
    assert encode_chunk("tweets", 1, 0, 5, _messages(), NOW).body == chunk.body


def test_master_lines_are_compact_json_of_master_record() -> None:
    chunk = encode_chunk("tweets", 1, 0, 5, _messages(), NOW)
    expected = [
        json.dumps(master_record(e, 1, m.offset), ensure_ascii=False, separators=(",", ":"))
        for m in _messages()
        if isinstance(e := parse_event(m.value, now=NOW), Event)
    ]
    assert gzip.decompress(chunk.body).decode().split("\n") == [*expected, ""]
    assert chunk.body[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0: stable bytes


def test_a_new_cycle_removes_rows_dirs_of_dead_processes_only() -> None:
    import subprocess
    import sys
    import tempfile

    from batch_layer import parallel

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    tmp = Path(tempfile.gettempdir())
    dead = tmp / f"lambda-batch-rows-{int(gone.stdout)}-test"
    live = tmp / f"lambda-batch-rows-{os.getpid()}-test"
    for d in (dead, live):
        d.mkdir(exist_ok=True)
        (d / "0-1.csv").write_text("x")
    try:
        fresh = parallel.rows_dir()
        assert not dead.exists() and live.exists()
        assert Path(fresh.name).name.startswith(f"lambda-batch-rows-{os.getpid()}-")
        fresh.cleanup()
    finally:
        for d in (dead, live):
            shutil.rmtree(d, ignore_errors=True)
