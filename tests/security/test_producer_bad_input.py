"""The replay CLI against the real broker on bad input (issue 14): every bad line is
reported with its number and skipped, the run goes on, exactly the valid events arrive."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import UTC, datetime
from pathlib import Path

from ingestion.replay import BadLine, parse_lines
from ingestion.xapi import parse_payload
from lambda_common.contract import Event, parse_event
from tests.integration.helpers import consume_all, run_module
from tests.stack import StackHandle
from tests.unit.ingestion_mutations import contract_seeds, mutated_lines, serialise, x_seeds

_SKIPPED = re.compile(r"line (\d+) skipped: (.*)")


def _replay(stack: StackHandle, tmp_path: Path, lines: list[bytes]) -> tuple[str, str]:
    """Run the replay CLI on ``lines``; return (topic, stderr). It must exit 0."""
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    topic = stack.unique("it_replay_bad")
    env = {"KAFKA_BOOTSTRAP_SERVERS": stack.settings.kafka_bootstrap_servers}
    result = run_module(
        "ingestion", "--topic", topic, "--source", "replay", "--file", str(path), env=env
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return topic, result.stderr


def _topic(stack: StackHandle, topic: str, expected: int) -> list[tuple[bytes, bytes]]:
    # One more than expected, so an extra message would show; the CLI has flushed already.
    return consume_all(stack.settings, topic, expected + 1, idle_ms=5000)


def _mapped(payload: object) -> list[Event]:
    events = parse_payload(payload)
    assert isinstance(events, list), events
    return events


def _as_sent(events: list[Event]) -> list[tuple[bytes, bytes]]:
    return sorted((e.tweet_id.encode(), e.to_json_bytes()) for e in events)


def test_the_reported_shapes_are_skipped_and_the_rest_is_sent(
    stack: StackHandle, tmp_path: Path
) -> None:
    stream, search = x_seeds()[0], x_seeds()[1]
    entities, metrics = x_seeds()[0], x_seeds()[0]
    entities["data"]["entities"] = [1]
    metrics["data"]["public_metrics"] = "x"
    bare = {"id": "1", "author_id": "2", "created_at": "2026-11-21T10:00:00Z"}
    contract = contract_seeds()
    lines = [
        serialise(contract[0]),
        serialise(bare | {"author": {"public_metrics": 5}}),  # line 2
        serialise(stream),
        serialise(search | {"includes": {"users": 5}}),  # line 4
        serialise(entities),  # line 5
        serialise(search),
        serialise(metrics),  # line 7
        serialise(contract[1]),
    ]
    topic, stderr = _replay(stack, tmp_path, lines)

    skipped = dict(_SKIPPED.findall(stderr))
    assert skipped == {
        "2": "tweet 1: author.public_metrics must be an object, not a number",
        "4": "unknown id: includes.users must be an array, not a number",
        "5": "tweet 1859540000000000001: entities must be an object, not an array",
        "7": "tweet 1859540000000000001: public_metrics must be an object, not a string",
    }
    assert len(_SKIPPED.findall(stderr)) == 4  # one line per bad line
    x_events = [e for payload in (stream, search) for e in _mapped(payload)]
    contract_events = [parse_event(serialise(c)) for c in contract[:2]]
    valid = [
        dataclasses.replace(e, source="replay")
        for e in [*x_events, *contract_events]
        if isinstance(e, Event)
    ]
    assert len(valid) == 5
    assert f"sent {len(valid)} events" in stderr and "bad input 4" in stderr
    assert sorted(_topic(stack, topic, len(valid))) == _as_sent(valid)


def test_a_fuzzed_replay_file_sends_exactly_its_valid_events(
    stack: StackHandle, tmp_path: Path
) -> None:
    rng = random.Random(1414)
    valid_lines = [serialise(seed) for seed in (*x_seeds(), *contract_seeds())]
    lines = [*mutated_lines(rng, 400), *valid_lines * 3]
    rng.shuffle(lines)
    # What the CLI must do, decided line by line by the replay's own parser (the unit
    # fuzz tests check its decisions): the valid lines among them for sure.
    now = datetime.now(UTC)
    expected = list(parse_lines([line + b"\n" for line in lines], now=now))  # as read
    events = [e for e in expected if isinstance(e, Event)]
    bad = {str(b.line_number): b.reason for b in expected if isinstance(b, BadLine)}
    for line in valid_lines:
        assert all(e in events for e in parse_lines([line], now=now))
    assert 200 < len(bad) < 400

    topic, stderr = _replay(stack, tmp_path, lines)

    assert dict(_SKIPPED.findall(stderr)) == bad
    assert len(_SKIPPED.findall(stderr)) == len(bad)
    assert f"sent {len(events):,} events" in stderr and f"bad input {len(bad):,}" in stderr
    assert sorted(_topic(stack, topic, len(events))) == _as_sent(events)
