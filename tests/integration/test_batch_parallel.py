"""The batch cycle's parallel landing (worker processes) against the real services.

Small cycles land in the cycle's own process; these tests force the worker processes
on a small topic and check they write the very objects the serial encoding gives, and
that the load from landing's CSV fills the warehouse exactly.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batch_layer import parallel
from batch_layer.cycle import horizon_for, run_cycle
from batch_layer.landing import Message, encode_chunk
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.objectstore import S3ObjectStore
from lambda_common.warehouse import Warehouse

from .helpers import KAFKA_CLIENTS, Lane, expected_view, read_topic, send_raw, view_rows

NOW = datetime.now(UTC)


def _produce(lane: Lane) -> None:
    options = SyntheticOptions(
        seed=23,
        count=2000,
        start=NOW - timedelta(days=2),
        end=NOW,
        duplicate_fraction=0.1,
    )
    good = [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    send_raw(lane.settings, [*good[:700], (b"1", b"not json"), *good[700:], (b"2", b"{}")])


def _rows_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("lambda-batch-rows-*")}


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_parallel_landing_writes_the_serial_objects_and_loads_exactly(
    lane: Lane, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    lane = lane.with_client(client)
    _produce(lane)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_OFFSETS", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    dirs_before = _rows_dirs()
    result = run_cycle(lane.settings, now=NOW)
    assert (result.events, result.rejects, result.objects) == (2000, 2, 3)
    horizon = horizon_for(NOW, lane.settings.allowed_lateness)
    assert view_rows(lane.settings, "batch_view") == expected_view(
        lane.settings, NOW, lambda hour: hour < horizon
    )
    # Every object holds what the serial encoding of its messages gives, byte for byte.
    by_partition: dict[int, list[Message]] = defaultdict(list)
    for partition, offset, value in read_topic(lane.settings):
        by_partition[partition].append(Message(offset, 0, value))
    store = S3ObjectStore(lane.settings)
    with Warehouse(lane.settings) as wh:
        ledger = wh.query(
            "SELECT object_key, kafka_partition, first_offset, last_offset FROM load_ledger"
        )
    assert len(ledger) == 3
    for key, partition, first, last in ledger:
        messages = [m for m in by_partition[partition] if first <= m.offset <= last]
        chunk = encode_chunk(lane.settings.kafka_topic, partition, first, last, messages, NOW)
        assert store.get(key) == chunk.body
    # The rows' CSV files go with the cycle.
    assert _rows_dirs() <= dirs_before
