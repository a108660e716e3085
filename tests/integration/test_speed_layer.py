"""The speed layer: real Spark (local), real Kafka, the real local warehouse.

The job runs as ``python -m speed_layer`` in its own process group, as users run it, so
the tests can SIGKILL the driver (Python and its JVM) mid-stream. Every check compares
every view in the warehouse with an aggregation the test computes itself from the topic
(hashtags and lang in every form the contract normalises: ``helpers.vary``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyspark
import pytest
from psycopg2 import sql

from batch_layer.cycle import run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event
from lambda_common.warehouse import Warehouse

from .helpers import (
    CATCH_UP_S,
    REPO,
    Lane,
    SpeedJob,
    ViewKey,
    ViewSums,
    all_views_rows,
    expected_all_views,
    messages_of,
    mismatch,
    send_raw,
    vary,
    views_served_twice,
    wait_until_equal,
)


@pytest.fixture
def job(lane: Lane, tmp_path: Path) -> Iterator[SpeedJob]:
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()  # what the job does at start; the oracle reads the horizon too
    handle = SpeedJob(lane, tmp_path)
    yield handle
    if handle.alive():
        handle.kill()


def _horizon(lane: Lane) -> datetime | None:
    with Warehouse(lane.settings) as wh:
        rows = wh.query("SELECT MAX(horizon) FROM batch_horizon")
    return rows[0][0] if rows else None


def _speed_expected(lane: Lane) -> dict[ViewKey, ViewSums]:
    """Every view's rows for the hours at or after the horizon: (view, event_hour, *keys)."""
    horizon = _horizon(lane)
    return expected_all_views(
        lane.settings, datetime.now(UTC), lambda hour: horizon is None or hour >= horizon
    )


def _speed(lane: Lane) -> dict[ViewKey, ViewSums]:
    return all_views_rows(lane.settings, "speed")


def _serving(lane: Lane) -> dict[ViewKey, ViewSums]:
    return all_views_rows(lane.settings, "serving")


def _serving_expected(lane: Lane) -> dict[ViewKey, ViewSums]:
    return expected_all_views(lane.settings, datetime.now(UTC), lambda hour: True)


def _events(
    seed: int, count: int, start: datetime, end: datetime, *, late: float = 0.05
) -> list[Event]:
    options = SyntheticOptions(
        seed=seed, count=count, start=start, end=end, duplicate_fraction=0.1, late_fraction=late
    )
    return vary(SyntheticTweets(options))


def _send_events(lane: Lane, events: list[Event]) -> None:
    send_raw(lane.settings, messages_of(events))


def _wait_for_batch_in_flight(job: SpeedJob, after: int) -> int:
    """Wait until Spark has logged the offsets of a micro-batch > ``after`` but not yet
    committed it: the batch is being processed. Returns its id."""
    offsets, commits = job.checkpoint / "offsets", job.checkpoint / "commits"
    deadline = time.monotonic() + CATCH_UP_S
    while time.monotonic() < deadline:
        planned = {int(p.name) for p in offsets.glob("[0-9]*")} if offsets.is_dir() else set()
        done = {int(p.name) for p in commits.glob("[0-9]*")} if commits.is_dir() else set()
        in_flight = sorted(b for b in planned - done if b > after)
        if in_flight:
            return in_flight[0]
        time.sleep(0.02)
    pytest.fail("no micro-batch started\n" + job.tail())


def test_speed_view_is_exact_across_a_sigkill_and_a_horizon_move(lane: Lane, job: SpeedJob) -> None:
    now = datetime.now(UTC)
    first = _events(21, 2000, now - timedelta(hours=3), now)
    future = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    far_future: dict[str, object] = {"tweet_id": "2", "created_at": future, "user_id": "u"}
    far_future |= {"followers_count": 1, "favorite_count": 0, "retweet_count": 0}
    bad = [(b"1", b"{not json"), (b"2", json.dumps(far_future).encode())]
    _send_events(lane, first)
    send_raw(lane.settings, bad)
    # A batch cycle that vouches for little (2 h of lateness) sets an early horizon.
    cautious = lane.settings.model_copy(update={"allowed_lateness": 2 * 3600})
    early = run_cycle(cautious).horizon
    assert early is not None

    job.start()

    def speed() -> dict[ViewKey, ViewSums]:
        return _speed(lane)

    wait_until_equal(job, speed, lambda: _speed_expected(lane))
    # The job ran on this interpreter's Spark (make test-spark35 runs this test on 3.5 too).
    assert f", Spark {pyspark.__version__}\n" in job.log.read_text(), job.tail()
    # The status row lands just after the micro-batch (Spark's progress event).
    rejects = -1
    with Warehouse(lane.settings) as wh:
        for _ in range(30):
            rejects = int(wh.query("SELECT COALESCE(SUM(rejects), 0) FROM speed_batches")[0][0])
            if rejects == len(bad):
                break
            time.sleep(0.5)
    assert rejects == len(bad), job.tail()

    # A second wave, with re-captures of first-wave tweets (same id, higher counts: the
    # first copy must keep winning across micro-batches, hashtags and lang included: vary
    # gives a re-capture others); SIGKILL while Spark processes it.
    recaptures = vary(
        dataclasses.replace(e, favorite_count=e.favorite_count + 7) for e in first[:200]
    )
    changed = zip(recaptures, first[:200], strict=True)
    assert sum(r.hashtags != e.hashtags or r.lang != e.lang for r, e in changed) > 50
    last = max(int(p.name) for p in (job.checkpoint / "commits").glob("[0-9]*"))
    _send_events(lane, _events(22, 2000, now - timedelta(hours=2), datetime.now(UTC)) + recaptures)
    _wait_for_batch_in_flight(job, after=last)
    job.kill()
    job.start()
    wait_until_equal(job, speed, lambda: _speed_expected(lane))

    # The batch layer moves the horizon; the next micro-batch drops the older hours.
    moved = run_cycle(lane.settings).horizon
    assert moved is not None and moved > early
    # (Not late: a late event for an hour before the horizon waits for the next batch
    # cycle, as the contract allows.)
    recent = _events(23, 50, datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC), late=0)
    _send_events(lane, recent)
    wait_until_equal(job, speed, lambda: _speed_expected(lane))
    assert min(key[1] for key in speed()) >= moved  # (view, event_hour, ...)
    assert {key[0] for key in speed()} == {v.name for v in lane.settings.views}
    # And each serving view is the whole aggregation, each event counted once.
    want, got = _serving_expected(lane), _serving(lane)
    assert got == want, mismatch(want, got)
    assert views_served_twice(lane.settings) == {}
    assert job.stop() == 0, job.tail()


def test_serving_totals_never_go_down_while_streaming(lane: Lane, job: SpeedJob) -> None:
    # The producer's hashtags and lang are tidy: varied ones of the last hour first. The
    # live stream starts once they are served, so that Spark's start-up (slower on a busy
    # machine) does not eat the minute the totals are watched in.
    now = datetime.now(UTC)
    _send_events(lane, _events(32, 600, now - timedelta(hours=1), now))
    job.start()
    with Warehouse(lane.settings) as wh:
        deadline = time.monotonic() + CATCH_UP_S
        while not wh.query("SELECT COUNT(*) FROM speed_batches")[0][0]:
            assert job.alive() and time.monotonic() < deadline, job.tail()
            time.sleep(0.5)
    producer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingestion",
            "--count",
            "18000",
            "--rate",
            "300",
            "--duplicates",
            "0.05",
            "--late",
            "0.02",
            "--seed",
            "31",
        ],
        cwd=REPO,
        env={**os.environ, **lane.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # One statement: the horizon and every serving view's total read in one snapshot.
    totals = sql.SQL(", ").join(
        sql.SQL("(SELECT COALESCE(SUM(tweet_count), 0) FROM {})").format(
            sql.Identifier(v.serving_view)
        )
        for v in lane.settings.views
    )
    poll = sql.SQL("SELECT (SELECT MAX(horizon) FROM batch_horizon), {}").format(totals)
    samples: list[tuple[datetime | None, tuple[int, ...]]] = []
    with Warehouse(lane.settings) as wh:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            horizon, *sums = wh.query(poll)[0]
            samples.append((horizon, tuple(int(t) for t in sums)))
            time.sleep(0.25)
    _, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err[-500:]
    assert job.alive(), job.tail()
    for i, view in enumerate(lane.settings.views):
        series = [(h, t[i]) for h, t in samples]
        drops = [(a, b) for a, b in itertools.pairwise(series) if a[0] == b[0] and b[1] < a[1]]
        assert not drops, (view.name, drops[:5])
        assert series[-1][1] > series[0][1], view.name
        assert len({t for _, t in series}) > 10, view.name  # the totals really moved
    # The contract's exactness: producing stopped, one batch cycle, speed caught up (the
    # batch layer takes the late events of hours the speed layer no longer holds).
    assert run_cycle(lane.settings).horizon is not None
    wait_until_equal(job, lambda: _serving(lane), lambda: _serving_expected(lane))
    assert views_served_twice(lane.settings) == {}


def test_a_micro_batch_replayed_after_its_write_leaves_the_same_table(
    lane: Lane, job: SpeedJob
) -> None:
    now = datetime.now(UTC)
    _send_events(lane, _events(41, 1500, now - timedelta(hours=1), now))
    job.env["LAMBDA_FAILPOINT"] = "speed_after_write"
    job.start()
    assert job.process is not None
    assert job.process.wait(timeout=CATCH_UP_S) == -9, job.tail()
    job.kill()  # the JVM too, if it has not noticed its driver is gone
    written = _speed(lane)
    assert written == _speed_expected(lane)
    assert not (job.checkpoint / "commits" / "0").exists()  # Spark never committed it

    del job.env["LAMBDA_FAILPOINT"]
    job.start()
    deadline = time.monotonic() + CATCH_UP_S
    while not (job.checkpoint / "commits" / "0").exists() and time.monotonic() < deadline:
        assert job.alive(), job.tail()
        time.sleep(0.2)
    assert (job.checkpoint / "commits" / "0").exists(), job.tail()
    assert _speed(lane) == written
