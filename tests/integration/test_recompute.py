"""``make recompute`` of a lane with several objects, on the real broker, S3 server and
warehouse: the ledger it rebuilds records each object's events and rejects exactly as the
cycles that landed them did, it reads each object once as a stream (no HEAD, no whole-
object GET), and it reports its progress while it loads."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batch_layer import load, staging, target
from batch_layer.cycle import recompute, recompute_objects, run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

from .helpers import Lane, send_raw

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


def _round(settings: Settings, seed: int, good: int, bad: int) -> None:
    messages: list[tuple[bytes, bytes]] = []
    if good:
        options = SyntheticOptions(
            seed=seed,
            count=good,
            start=NOW - timedelta(days=1),
            end=NOW - timedelta(hours=3),
            duplicate_fraction=0.1,
        )
        messages += [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    # Keys of their own, so the rejects spread over the partitions.
    messages += [(f"bad-{seed}-{i}".encode(), b"{not json") for i in range(bad)]
    send_raw(settings, messages)
    run_cycle(settings, now=NOW)


def _ledger(settings: Settings) -> list[tuple[Any, ...]]:
    with Warehouse(settings) as wh:
        return wh.query(
            "SELECT object_key, kafka_partition, first_offset, last_offset, events, rejects "
            "FROM load_ledger ORDER BY object_key"
        )


def test_recompute_records_what_the_cycles_did_and_logs_its_progress(
    lane: Lane, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = lane.settings
    _round(settings, 71, good=600, bad=5)
    _round(settings, 72, good=400, bad=0)
    _round(settings, 73, good=0, bad=6)  # objects holding no event, only rejects
    cycles = _ledger(settings)
    assert len(cycles) >= 7
    assert any(events == 0 and rejects > 0 for *_, events, rejects in cycles)
    assert sum(r[5] for r in cycles) == 11
    with Warehouse(settings) as wh:  # a ledger that lies: recompute must not trust it
        wh.execute("UPDATE load_ledger SET events = events + 1, rejects = 0")
        ((raw,),) = wh.query("SELECT COUNT(*) FROM raw_tweets")

    calls: dict[str, int] = {}
    for name in ("exists", "get"):
        real = getattr(S3ObjectStore, name)

        def counted(self: S3ObjectStore, key: str, _real: Any = real, _name: str = name) -> Any:
            calls[_name] = calls.get(_name, 0) + 1
            return _real(self, key)

        monkeypatch.setattr(S3ObjectStore, name, counted)
    monkeypatch.setattr(staging, "PROGRESS_EVERY_S", 0.0)  # a line after every object
    with caplog.at_level(logging.INFO):
        assert recompute(settings) == len(cycles)

    assert _ledger(settings) == cycles
    with Warehouse(settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM raw_tweets") == [(raw,)]
    assert calls == {}  # streamed: no HEAD per object, no whole object held in memory
    # The progress lines are staging's, the summary the load's.
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name in ("batch_layer.load", "batch_layer.staging")
    ]
    total = len(cycles)
    progress = [m for m in messages if re.match(rf"recompute: \d+/{total} objects, ", m)]
    assert [int(m.split(":")[1].split("/")[0]) for m in progress] == list(range(1, total))
    line = re.compile(
        rf"recompute: \d+/{total} objects, [\d,]+ events, [\d,]+ events/s, about [\d.hms]+ left"
    )
    assert all(line.fullmatch(m) for m in progress), progress
    events = sum(r[4] for r in cycles)
    assert messages[-1].startswith(
        f"recompute: loaded {total} objects, {events:,} events and 11 rejects in "
    )


def test_the_set_based_count_redshift_uses_agrees_with_the_streamed_count(lane: Lane) -> None:
    # No Redshift here: its one GROUP BY over the objects' ranges (common SQL) runs on
    # PostgreSQL against the same staged rows the streamed count saw.
    settings = lane.settings
    _round(settings, 81, good=500, bad=3)
    _round(settings, 82, good=300, bad=0)
    store = S3ObjectStore(settings)
    objects = recompute_objects(store, settings.kafka_topic)
    assert len(objects) >= 6
    with Warehouse(settings) as wh:
        batch = load.BatchWarehouse(settings, wh, store)
        with wh.transaction() as cur:
            batch._run_file(cur, "staging_create")
            streamed = [batch.staging._copy_object(cur, o.key) for o in objects]
            batch.staging._count_in_staging(cur, objects)
    assert [o.events for o in objects] == streamed
    assert sum(streamed) == 800  # every valid copy, duplicates included
    assert sum(r[4] for r in _ledger(settings)) == sum(streamed)


def test_a_recompute_of_a_mistyped_topic_is_refused_and_clears_nothing(lane: Lane) -> None:
    """Security finding 5: with a mistyped KAFKA_TOPIC, recompute found no objects and
    deleted raw_tweets, raw_hashtags and the ledger of every topic."""
    settings = lane.settings
    _round(settings, 81, good=300, bad=1)
    with Warehouse(settings) as wh:
        before = wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0]
    typo = settings.model_copy(update={"kafka_topic": settings.kafka_topic + "x"})
    with pytest.raises(target.RecomputeRefused, match="also holds topic"):
        recompute(typo)
    with Warehouse(settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0] == before > 0
    # The right topic still recomputes.
    assert recompute(settings) >= 1


def test_the_recompute_command_asks_and_refuses_without_a_terminal(lane: Lane) -> None:
    from .helpers import run_module

    _round(lane.settings, 82, good=50, bad=0)
    with Warehouse(lane.settings) as wh:
        rows = int(wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0])
    refused = run_module("batch_layer", "recompute", env=lane.env())
    assert refused.returncode == 1
    assert "not confirmed (no terminal): nothing was changed; pass --yes" in refused.stderr
    assert f"make recompute clears raw_tweets ({rows} rows)" in refused.stderr
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0] == rows > 0
