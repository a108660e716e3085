"""The speed layer: real Spark (local), real Kafka, the real local warehouse.

The job runs as ``python -m speed_layer`` in its own process group, as users run it, so
the tests can SIGKILL the driver (Python and its JVM) mid-stream. Every check compares
the warehouse with an aggregation the test computes itself from the topic.
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

import pytest

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
    expected_view,
    send_raw,
    view_rows,
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
    horizon = _horizon(lane)
    return expected_view(
        lane.settings, datetime.now(UTC), lambda hour: horizon is None or hour >= horizon
    )


def _events(
    seed: int, count: int, start: datetime, end: datetime, *, late: float = 0.05
) -> list[Event]:
    options = SyntheticOptions(
        seed=seed, count=count, start=start, end=end, duplicate_fraction=0.1, late_fraction=late
    )
    return list(SyntheticTweets(options))


def _send_events(lane: Lane, events: list[Event]) -> None:
    send_raw(lane.settings, [(e.tweet_id.encode(), e.to_json_bytes()) for e in events])


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
    far_future = {"tweet_id": "2", "created_at": future, "user_id": "u"}
    far_future |= {"followers_count": 1, "favorite_count": 0, "retweet_count": 0}
    bad = [(b"1", b"{not json"), (b"2", json.dumps(far_future).encode())]
    _send_events(lane, first)
    send_raw(lane.settings, bad)
    # A batch cycle that vouches for little (2 h of lateness) sets an early horizon.
    cautious = lane.settings.model_copy(update={"allowed_lateness": 2 * 3600})
    early = run_cycle(cautious).horizon
    assert early is not None

    job.start()
    speed = lambda: view_rows(lane.settings, "speed_view")  # noqa: E731
    wait_until_equal(job, speed, lambda: _speed_expected(lane))
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
    # first copy must keep winning across micro-batches); SIGKILL while Spark processes it.
    recaptures = [dataclasses.replace(e, favorite_count=e.favorite_count + 7) for e in first[:200]]
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
    assert min(speed())[0] >= moved
    # And the serving view is the whole aggregation, each event counted once.
    assert view_rows(lane.settings, "serving_view") == expected_view(
        lane.settings, datetime.now(UTC), lambda hour: True
    )
    assert job.stop() == 0, job.tail()


def test_serving_totals_never_go_down_while_streaming(lane: Lane, job: SpeedJob) -> None:
    job.start()
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
    samples: list[tuple[datetime | None, int]] = []
    with Warehouse(lane.settings) as wh:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # One statement: horizon and total read in the same snapshot.
            horizon, total = wh.query(
                "SELECT (SELECT MAX(horizon) FROM batch_horizon), "
                "COALESCE(SUM(tweet_count), 0) FROM serving_view"
            )[0]
            samples.append((horizon, int(total)))
            time.sleep(0.25)
    _, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err[-500:]
    assert job.alive(), job.tail()
    drops = [(a, b) for a, b in itertools.pairwise(samples) if a[0] == b[0] and b[1] < a[1]]
    assert not drops, drops[:5]
    assert samples[-1][1] > samples[0][1]
    assert len({t for _, t in samples}) > 10  # the totals really moved during the test
    # The contract's exactness: producing stopped, one batch cycle, speed caught up (the
    # batch layer takes the late events of hours the speed layer no longer holds).
    assert run_cycle(lane.settings).horizon is not None
    wait_until_equal(
        job,
        lambda: view_rows(lane.settings, "serving_view"),
        lambda: expected_view(lane.settings, datetime.now(UTC), lambda h: True),
    )


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
    written = view_rows(lane.settings, "speed_view")
    assert written == _speed_expected(lane)
    assert not (job.checkpoint / "commits" / "0").exists()  # Spark never committed it

    del job.env["LAMBDA_FAILPOINT"]
    job.start()
    deadline = time.monotonic() + CATCH_UP_S
    while not (job.checkpoint / "commits" / "0").exists() and time.monotonic() < deadline:
        assert job.alive(), job.tail()
        time.sleep(0.2)
    assert (job.checkpoint / "commits" / "0").exists(), job.tail()
    assert view_rows(lane.settings, "speed_view") == written
