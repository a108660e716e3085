"""The contract's exactness guarantee, end to end, with every part running at once.

History of several days (duplicates, late events, malformed messages, hashtags and lang
in every form the contract normalises) goes in first; then the speed job, the scheduled
batch layer and a live producer run concurrently, the first scheduled cycle moving the
horizon under the running speed job. A reader polls the serving views all along: no key
of any view may ever appear twice, the horizon never moves back. Once producing stops and
one batch cycle has run, every serving view must equal the aggregation the test computes
itself from the topic, row for row.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from batch_layer.cycle import run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.warehouse import Warehouse

from .helpers import (
    CATCH_UP_S,
    REPO,
    Lane,
    ServingPoller,
    SpeedJob,
    all_views_rows,
    expected_all_views,
    malformed_messages,
    messages_of,
    send_raw,
    vary,
    views_served_twice,
    wait_until_equal,
)


def test_serving_view_is_exact_with_both_layers_running_concurrently(
    lane: Lane, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    history = SyntheticOptions(
        seed=61,
        count=6000,
        start=now - timedelta(days=4),
        end=now,
        duplicate_fraction=0.1,
        late_fraction=0.05,
    )
    send_raw(lane.settings, messages_of(vary(SyntheticTweets(history))))
    rejects = malformed_messages(now, "history")
    send_raw(lane.settings, rejects)
    # A cautious first cycle (2 h of lateness) sets an early horizon, so that the first
    # scheduled cycle moves it while the speed job is writing.
    early = run_cycle(lane.settings.model_copy(update={"allowed_lateness": 2 * 3600})).horizon
    assert early is not None

    speed = SpeedJob(lane, tmp_path)
    speed.start()
    batch: subprocess.Popen[bytes] | None = None
    poller = ServingPoller(lane.settings)
    reader = threading.Thread(target=poller.run, daemon=True)
    try:
        deadline = time.monotonic() + CATCH_UP_S
        with Warehouse(lane.settings) as wh:
            while not wh.query("SELECT COUNT(*) FROM speed_batches")[0][0]:
                assert speed.alive() and time.monotonic() < deadline, speed.tail()
                time.sleep(1)
        reader.start()
        env = {**speed.env, "BATCH_INTERVAL": "4s"}
        with (tmp_path / "batch.log").open("ab") as log:
            batch = subprocess.Popen(
                [sys.executable, "-m", "batch_layer", "run"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        producer = subprocess.run(
            [
                sys.executable, "-m", "ingestion", "--count", "3000", "--rate", "100",
                "--duplicates", "0.05", "--late", "0.05", "--seed", "62",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )  # fmt: skip
        assert producer.returncode == 0, producer.stderr[-800:]
        # The live producer's hashtags and lang are tidy: varied ones of the last hours
        # (some late, some re-captures of history with other tags), sent live too.
        live = SyntheticOptions(
            seed=63,
            count=800,
            start=datetime.now(UTC) - timedelta(hours=3),
            end=datetime.now(UTC),
            duplicate_fraction=0.1,
            late_fraction=0.1,
        )
        recaptured = [
            dataclasses.replace(e, favorite_count=e.favorite_count + 1)
            for e in list(SyntheticTweets(history))[-100:]
        ]
        send_raw(lane.settings, messages_of(vary([*SyntheticTweets(live), *recaptured])))
        live_rejects = malformed_messages(datetime.now(UTC), "live")
        send_raw(lane.settings, live_rejects)
        rejects += live_rejects

        # Quiescence: the scheduled batch stops after its cycle, one more cycle runs.
        batch.terminate()
        assert batch.wait(timeout=120) == 0, (tmp_path / "batch.log").read_text()[-2000:]
        assert run_cycle(lane.settings).horizon is not None
        wait_until_equal(
            speed,
            lambda: all_views_rows(lane.settings, "serving"),
            lambda: expected_all_views(lane.settings, datetime.now(UTC), lambda hour: True),
        )
        assert views_served_twice(lane.settings) == {}
        # Rejects are counted by the speed layer too (its status row follows the batch).
        with Warehouse(lane.settings) as wh:
            for _ in range(40):
                counted = wh.query("SELECT COALESCE(SUM(rejects), 0) FROM speed_batches")[0][0]
                if counted == len(rejects):
                    break
                time.sleep(0.5)
        assert counted == len(rejects), speed.tail()
        assert speed.stop() == 0, speed.tail()
    finally:
        poller.stop.set()
        if reader.is_alive():
            reader.join(timeout=10)
        if batch is not None and batch.poll() is None:
            batch.kill()
        if speed.alive():
            speed.kill()

    samples = poller.samples
    assert len(samples) > 50, len(samples)
    twice = [s for s in samples if s[1]]
    assert not twice, f"keys served twice: {twice[:5]}"
    horizons = [h for h, _, _ in samples if h is not None]
    assert horizons == sorted(horizons), "the horizon moved backwards"
    assert horizons[0] == early and horizons[-1] > early, "no horizon move during the run"
    assert len({total for _, _, total in samples}) > 10  # the view really changed meanwhile
    # Every malformed message is kept by the batch layer and counted by neither view.
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT SUM(rejects) FROM load_ledger")[0][0] == len(rejects)
