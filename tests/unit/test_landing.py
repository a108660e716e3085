"""Landing's pure rules: plans, chunks, object keys, encoding, horizon."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from batch_layer.cycle import horizon_for
from batch_layer.landing import (
    Message,
    PartitionPlan,
    encode_chunk,
    object_key,
    plan_key,
    read_master_object,
)
from lambda_common.contract import Event

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
    assert [r["kafka_offset"] for r in records] == [0, 2]
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
