"""The speed job's parse step reads a plainly valid event from the contract's Struct (no
Event made), and leaves everything else to the contract's whole way: the two ways give the
same parsed row for every value, valid or not, reject reasons included. Seeded hostile
values (``hostile_events``) and synthetic events, also through the Arrow batches Spark
hands over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_event
from speed_layer import parse
from speed_layer.parse import INPUT_COLUMNS, _parse_at, _parse_full, parse_batches

from .hostile_events import NOW, hostile_values


@pytest.mark.parametrize("seed", range(1, 9))
def test_the_struct_way_parses_every_hostile_value_as_the_full_way(seed: int) -> None:
    values: list[bytes | None] = [*hostile_values(seed, 2_000), None, b"", b"{}", b"\xff"]
    valid = 0
    for value in values:
        assert _parse_at(value, NOW) == _parse_full(value, NOW), value
        valid += isinstance(parse_event(value, now=NOW), Event)
    assert 0 < valid < len(values)  # both kinds were met


def test_the_struct_way_judges_the_clock_as_the_full_way() -> None:
    event = Event(
        tweet_id="1",
        created_at=NOW + timedelta(hours=1, seconds=1),
        user_id="u",
        followers_count=1,
        favorite_count=2,
        retweet_count=3,
        hashtags=("#A", "a", "b\x00"),
    )
    value = event.to_json_bytes()
    assert _parse_at(value, NOW).reject is not None  # too far in the future
    later = NOW + timedelta(seconds=2)
    assert _parse_at(value, later) == _parse_full(value, later)
    assert _parse_at(value, later).hashtags == ["a", "b\ufffd"]


def test_arrow_batches_of_synthetic_events_parse_as_the_full_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    options = SyntheticOptions(seed=3, count=3_000)
    values = [e.to_json_bytes() for e in SyntheticTweets(options)]
    clock = int(datetime.now(UTC).timestamp() * 1_000_000)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(values, pa.binary()),
            pa.array([clock] * len(values), pa.int64()),
            pa.array([0] * len(values), pa.int32()),
            pa.array(range(len(values)), pa.int64()),
        ],
        names=list(INPUT_COLUMNS),
    )
    (fast,) = parse_batches([batch])
    monkeypatch.setattr(parse, "_parse_at", _parse_full)
    (full,) = parse_batches([batch])
    assert fast.equals(full)
