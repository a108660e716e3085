"""The producers end to end against the real broker: what goes in comes back out."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2

from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_event
from tests.stack import StackHandle

from .helpers import KAFKA_CLIENTS, consume_all, read_topic, run_module

START, END = "2026-11-14T00:00:00Z", "2026-11-21T00:00:00Z"


def _produce(stack: StackHandle, topic: str, *args: str, client: str = "kafka-python") -> str:
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.settings.kafka_bootstrap_servers}
    env["KAFKA_CLIENT"] = client
    result = run_module("ingestion", "--topic", topic, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def _expected(seed: int, count: int, **kw: float) -> list[Event]:
    options = SyntheticOptions(
        seed=seed,
        count=count,
        start=datetime(2026, 11, 14, tzinfo=UTC),
        end=datetime(2026, 11, 21, tzinfo=UTC),
        **kw,  # type: ignore[arg-type]
    )
    return list(SyntheticTweets(options))


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_synthetic_events_come_back_byte_for_byte(stack: StackHandle, client: str) -> None:
    topic = stack.unique("it_synth")
    summary = _produce(
        stack,
        topic,
        "--count",
        "3000",
        "--seed",
        "11",
        "--start",
        START,
        "--end",
        END,
        client=client,
    )
    assert "done: sent 3,000 events" in summary and "failed 0" in summary
    got = consume_all(stack.settings, topic, 3000)
    expected = _expected(11, 3000)
    assert sorted(got) == sorted((e.tweet_id.encode(), e.to_json_bytes()) for e in expected)
    # Either client puts a key where the other (and the Java client) would: murmur2.
    placed = read_topic(stack.settings.model_copy(update={"kafka_topic": topic}))
    for partition, _, value in placed:
        key = json.loads(value)["tweet_id"].encode()
        assert partition == (murmur2(key) & 0x7FFFFFFF) % len({p for p, _, _ in placed})


def test_same_seed_same_events(stack: StackHandle) -> None:
    first, second = stack.unique("it_seed_a"), stack.unique("it_seed_b")
    for topic in (first, second):
        _produce(stack, topic, "--count", "500", "--seed", "5", "--start", START, "--end", END)
    a, b = consume_all(stack.settings, first, 500), consume_all(stack.settings, second, 500)
    assert len(a) == 500 and sorted(a) == sorted(b)


def test_duplicate_and_late_fractions_reach_kafka(stack: StackHandle) -> None:
    topic = stack.unique("it_dup")
    args = ("--count", "4000", "--seed", "3", "--start", START, "--end", END)
    _produce(stack, topic, *args, "--duplicates", "0.1", "--late", "0.05")
    got = consume_all(stack.settings, topic, 4000)
    assert len(got) == 4000
    ids = Counter(key for key, _ in got)
    assert sum(n - 1 for n in ids.values()) == 400
    expected = _expected(3, 4000, duplicate_fraction=0.1, late_fraction=0.05)
    assert sorted(v for _, v in got) == sorted(e.to_json_bytes() for e in expected)
    for key, value in got:  # keyed by tweet_id
        assert json.loads(value)["tweet_id"].encode() == key


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_parallel_workers_deliver_every_event(stack: StackHandle, client: str) -> None:
    topic = stack.unique("it_workers")
    summary = _produce(
        stack,
        topic,
        "--count",
        "6000",
        "--seed",
        "9",
        "--workers",
        "2",
        "--backfill",
        "2d",
        client=client,
    )
    assert "delivered 6,000" in summary and "workers 2" in summary
    got = consume_all(stack.settings, topic, 6000)
    assert len(got) == 6000
    assert all(isinstance(parse_event(v), Event) for _, v in got)


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_replay_skips_and_reports_the_bad_line(
    stack: StackHandle, tmp_path: Path, client: str
) -> None:
    events = _expected(21, 3)
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        events[0].to_json_bytes()
        + b"\n"
        + events[1].to_json_bytes()
        + b"\n"
        + b'{"tweet_id": 12}\n'
        + events[2].to_json_bytes()
        + b"\n"
    )
    topic = stack.unique("it_replay")
    summary = _produce(stack, topic, "--source", "replay", "--file", str(path), client=client)
    assert "line 3 skipped: missing required field 'created_at'" in summary
    assert "sent 3 events" in summary and "bad input 1" in summary
    got = consume_all(stack.settings, topic, 3)
    assert sorted(k for k, _ in got) == sorted(e.tweet_id.encode() for e in events)
    assert {json.loads(v)["source"] for _, v in got} == {"replay"}


def test_x_source_without_token_is_a_one_line_error() -> None:
    result = run_module("ingestion", "--source", "x", env={"X_BEARER_TOKEN": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: SOURCE=x needs X_BEARER_TOKEN")
    assert result.stderr.count("\n") == 1


def test_broker_down_is_a_clear_error_not_a_hang() -> None:
    started = time.monotonic()
    result = run_module(
        "ingestion", "--count", "10", env={"KAFKA_BOOTSTRAP_SERVERS": "localhost:1"}, timeout=60
    )
    assert result.returncode == 1
    assert "Kafka at localhost:1 is unreachable" in result.stderr
    assert time.monotonic() - started < 40
