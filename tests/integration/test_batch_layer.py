"""The batch layer against the real broker, S3 server and warehouse.

Each test gets its own topic (so its own S3 keys and group offsets) and its own
warehouse schema (``search_path``), and checks every view's batch table against an
aggregation it computes itself from what it produced (hashtags and lang in every form
the contract normalises: ``helpers.vary``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from psycopg2 import sql

from batch_layer.cycle import horizon_for, run_cycle
from batch_layer.load import BatchWarehouse
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

from .helpers import (
    KAFKA_CLIENTS,
    Lane,
    ViewKey,
    ViewSums,
    all_views_rows,
    expected_all_views,
    expected_view,
    messages_of,
    mismatch,
    run_module,
    send_raw,
    vary,
    view_rows,
    views_served_twice,
)

NOW = datetime.now(UTC)


def _produce_mix(settings: Settings, count: int = 3000) -> None:
    options = SyntheticOptions(
        seed=17,
        count=count,
        start=NOW - timedelta(days=2),
        end=NOW,
        duplicate_fraction=0.1,
        late_fraction=0.05,
    )
    good = messages_of(vary(SyntheticTweets(options)))
    future = (NOW + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = [
        (b"1", b"not json at all"),
        (b"2", b'{"tweet_id": "2", "created_at": "2026-11-21T10:00:00Z"}'),
        (
            b"3",
            json.dumps(
                {
                    "tweet_id": "3",
                    "created_at": future,
                    "user_id": "u",
                    "followers_count": 1,
                    "favorite_count": 0,
                    "retweet_count": 0,
                }
            ).encode(),
        ),
        (b"4", b"\xff\xfe\x00 invalid utf-8"),
    ]
    send_raw(settings, good[:1000] + bad[:2] + good[1000:] + bad[2:])


def _expected(settings: Settings, horizon: datetime) -> dict[ViewKey, ViewSums]:
    """Every view's rows for the hours before ``horizon``: (view, event_hour, *keys)."""
    return expected_all_views(settings, NOW, lambda hour: hour < horizon)


def _view(settings: Settings) -> dict[ViewKey, ViewSums]:
    """Every view's batch table, keyed like ``_expected``."""
    return all_views_rows(settings, "batch")


def _assert_exact(settings: Settings, horizon: datetime) -> None:
    want, got = _expected(settings, horizon), _view(settings)
    assert got == want, mismatch(want, got)
    assert views_served_twice(settings, "batch") == {}
    assert views_served_twice(settings, "serving") == {}


def _assert_varied(settings: Settings) -> None:
    """The data really reached the edges of the new views' keys (else the exactness
    checks above prove little): keys the contract cut, lengthened, merged or defaulted."""
    with Warehouse(settings) as wh:
        tags = {r[0] for r in wh.query("SELECT DISTINCT hashtag FROM batch_hashtags")}
        langs = {r[0] for r in wh.query("SELECT DISTINCT lang FROM batch_languages")}
    assert {"kafka", "#kafka", "\u00a0kafka", "a\ufffdb", "x" * 100} <= tags, tags
    # '# kafka' is kafka: trimmed again after the '#' and the cut (contract version 3).
    assert not {t for t in tags if t != t.strip(" \t\n\r\f\v")}, tags
    assert {"i\u0307stanbul", "strasse", "stra\u00dfe", "y" * 100} <= tags, tags
    assert not any(t != t.lower() or not t.strip(" \t\n\r\f\v") for t in tags)
    assert {"(unknown)", "en", "pt-br", "zh-hant-tw", "x" * 35, "e\ufffdn"} <= langs, langs


def _snapshot(settings: Settings) -> dict[str, Any]:
    with Warehouse(settings) as wh:
        return {
            "raw": wh.query(
                "SELECT tweet_id, kafka_partition, kafka_offset FROM raw_tweets ORDER BY tweet_id"
            ),
            "ledger": wh.query(
                "SELECT object_key, events, rejects FROM load_ledger ORDER BY object_key"
            ),
            "hashtags": wh.query(
                "SELECT tweet_id, hashtag FROM raw_hashtags ORDER BY tweet_id, hashtag"
            ),
            "horizon": wh.query("SELECT horizon FROM batch_horizon"),
            "view": _view(settings),
        }


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_cycle_gives_exact_counts_and_a_rerun_is_a_no_op(lane: Lane, client: str) -> None:
    lane = lane.with_client(client)
    _produce_mix(lane.settings)
    result = run_cycle(lane.settings, now=NOW)
    # Rejected: not JSON, missing fields, far future, invalid UTF-8.
    assert result.rejects == 4
    horizon = horizon_for(NOW, lane.settings.allowed_lateness)
    assert result.horizon == horizon
    expected = expected_view(lane.settings, NOW, lambda hour: hour < horizon)
    assert sum(v[0] for v in expected.values()) > 2000
    _assert_exact(lane.settings, horizon)
    assert view_rows(lane.settings, "batch_view") == expected
    _assert_varied(lane.settings)
    # batch_daily: the same rows added up per UTC day, distinct locations counted.
    days: dict[date, tuple[int, set[str]]] = {}
    for (hour, location), sums in expected.items():
        tweets, places = days.get(hour.date(), (0, set()))
        days[hour.date()] = (tweets + sums[0], places | {location})
    with Warehouse(lane.settings) as wh:
        daily = wh.query("SELECT event_day, tweet_count, locations FROM batch_daily")
    assert {d: (t, n) for d, t, n in daily} == {d: (t, len(p)) for d, (t, p) in days.items()}
    before = _snapshot(lane.settings)
    again = run_cycle(lane.settings, now=NOW)
    assert (again.objects, again.events, again.loaded) == (0, 0, False)
    assert _snapshot(lane.settings) == before


@pytest.mark.parametrize("point", ["after_s3", "after_copy", "after_load_commit", "after_offsets"])
def test_sigkill_at_any_point_then_rerun_is_exact(lane: Lane, point: str) -> None:
    _produce_mix(lane.settings, count=1500)
    crashed = run_module("batch_layer", "once", env={**lane.env(), "LAMBDA_FAILPOINT": point})
    assert crashed.returncode == -9, crashed.stderr[-500:]
    # Events that arrive after the crash: the one re-run must take them too, next to the
    # plan it redoes (the contract: one cycle after producing stops is enough).
    later = SyntheticOptions(seed=18, count=500, start=NOW - timedelta(days=1), end=NOW)
    send_raw(
        lane.settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(later)]
    )
    rerun = run_module("batch_layer", "once", env=lane.env())
    assert rerun.returncode == 0, rerun.stderr[-800:]
    with Warehouse(lane.settings) as wh:
        (horizon,) = wh.query("SELECT horizon FROM batch_horizon")[0]
        dupes = wh.query("SELECT COUNT(*) - COUNT(DISTINCT tweet_id) FROM raw_tweets")[0][0]
    assert dupes == 0
    _assert_exact(lane.settings, horizon)
    third = run_module("batch_layer", "once", env=lane.env())
    assert "0 events landed" in third.stderr


def test_recompute_rebuilds_the_same_tables_from_s3_alone(lane: Lane) -> None:
    _produce_mix(lane.settings, count=2000)
    run_cycle(lane.settings, now=NOW)
    before = _snapshot(lane.settings)
    assert before["hashtags"] and before["view"]
    with Warehouse(lane.settings) as wh:  # lose the warehouse's copy entirely
        wh.execute("DELETE FROM raw_tweets")
        wh.execute("DELETE FROM raw_hashtags")
        for view in lane.settings.views:
            wh.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(view.batch_table)))
        wh.execute("DELETE FROM load_ledger")
    result = run_module("batch_layer", "recompute", "--yes", env=lane.env())
    assert result.returncode == 0, result.stderr[-800:]
    assert "from 3 objects" in result.stderr
    assert _snapshot(lane.settings) == before


def test_processes_on_disjoint_partitions_publish_only_what_all_have_landed(lane: Lane) -> None:
    _produce_mix(lane.settings, count=1500)
    cautious = lane.settings.model_copy(update={"allowed_lateness": 5 * 3600})
    first = run_cycle(lane.settings, now=NOW, only_partitions=[0])
    # Partitions 1 and 2 have never been landed: no hour is safe to publish yet.
    assert first.horizon is None
    assert _view(lane.settings) == {}
    # A process on 1 and 2 that vouches for less (more lateness) holds the horizon back.
    second = run_cycle(cautious, now=NOW, only_partitions=[1, 2])
    assert second.horizon == horizon_for(NOW, cautious.allowed_lateness)
    _assert_exact(lane.settings, second.horizon)
    # Once it vouches for as much as partition 0, the horizon moves there.
    third = run_cycle(lane.settings, now=NOW, only_partitions=[1, 2])
    horizon = horizon_for(NOW, lane.settings.allowed_lateness)
    assert third.horizon == horizon
    _assert_exact(lane.settings, horizon)
    # The horizon never moves back, whatever a later cycle vouches for.
    behind = run_cycle(cautious, now=NOW, only_partitions=[0])
    assert behind.horizon == horizon
    _assert_exact(lane.settings, horizon)


def test_a_second_batch_process_is_refused_while_one_runs(lane: Lane) -> None:
    from batch_layer.schedule import cycle_lock

    with cycle_lock(lane.settings):
        result = run_module("batch_layer", "once", env=lane.env())
    assert result.returncode == 1
    assert "another batch process is running" in result.stderr


def test_scheduler_runs_cycles_until_stopped(lane: Lane) -> None:
    import threading

    from batch_layer.schedule import run_forever

    _produce_mix(lane.settings, count=500)
    settings = lane.settings.model_copy(update={"batch_interval": 1})
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(settings, stop))

    def wait_for(query: str, value: int) -> None:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        with Warehouse(settings) as wh:
            while datetime.now(UTC) < deadline and int(wh.query(query)[0][0]) != value:
                time.sleep(0.2)

    with Warehouse(settings) as wh:
        BatchWarehouse(settings, wh, S3ObjectStore(settings)).ensure_schema()
    worker.start()
    try:
        wait_for("SELECT COUNT(*) FROM load_ledger", 3)
        send_raw(settings, [(b"9", b"late garbage")])  # arrives between cycles
        wait_for("SELECT COALESCE(SUM(rejects), 0) FROM load_ledger", 5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    with Warehouse(settings) as wh:
        # _produce_mix's 4 malformed messages, then the late garbage: 5 rejects, 4 objects.
        assert int(wh.query("SELECT COALESCE(SUM(rejects), 0) FROM load_ledger")[0][0]) == 5
