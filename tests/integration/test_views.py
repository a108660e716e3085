"""Adding a view takes one SQL file: the proof, on the real stack.

A throwaway view file (``audiences``: tweets per hour and audience size) goes into a
folder of its own, ``VIEWS_DIR`` names it, and nothing else changes: ``make init``
creates its tables and serving view, one batch cycle fills ``batch_audiences``, the speed
job ``speed_audiences``, and ``serving_audiences`` must then equal the aggregation this
test computes itself from the topic, hours before the horizon from the batch layer and
the rest from the speed layer, no key served twice; the shipped views stay exact beside
it, and the reader may query the new view.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event
from lambda_common.warehouse import Warehouse

from .helpers import (
    Lane,
    SpeedJob,
    ViewKey,
    ViewSums,
    aggregate,
    all_views_rows,
    expected_all_views,
    first_copies,
    messages_of,
    run_module,
    send_raw,
    vary,
    view_rows,
    views_served_twice,
    wait_until_equal,
)

AUDIENCES = """\
-- view: audiences
-- key: audience varchar(16)
-- reads: tweets
--
-- Tweets per hour and audience size (a test's throwaway view).
SELECT
    event_hour,
    CASE
        WHEN followers_count >= 1000000 THEN 'mega'
        WHEN followers_count >= 10000 THEN 'large'
        ELSE 'small'
    END                                          AS audience,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweets
GROUP BY 1, 2
"""

TOP = 2**63 - 1
# Followers at each boundary of the CASE, and the largest count (sums past a bigint).
EDGES = (0, 9_999, 10_000, 999_999, 1_000_000, TOP)


def _audience(e: Event) -> list[ViewKey]:
    """The test's own reading of the view file: the row each tweet counts in."""
    f = e.followers_count
    size = "mega" if f >= 1_000_000 else "large" if f >= 10_000 else "small"
    return [(e.event_hour, size)]


def _events(now: datetime) -> list[Event]:
    """A few hundred varied tweets of the last 5 hours (duplicates, late ones) and, in
    each of those hours, one tweet per boundary of the view's CASE."""
    options = SyntheticOptions(
        seed=71,
        count=400,
        start=now - timedelta(hours=5),
        end=now,
        duplicate_fraction=0.1,
        late_fraction=0.05,
    )
    events = list(SyntheticTweets(options))
    edges = [
        Event(
            tweet_id=str(9_000_000 + hours * 10 + i),
            created_at=now - timedelta(hours=hours, minutes=1),
            user_id=f"edge{i}",
            followers_count=followers,
            favorite_count=TOP if followers == TOP else i,
            retweet_count=TOP if followers == TOP else 1,
            lang="EN",
            hashtags=("#Edge", f"Edge{i}"),
        )
        for hours in range(5)
        for i, followers in enumerate(EDGES)
    ]
    return vary(events + edges)


def test_a_view_added_as_one_file_is_served_exactly(lane: Lane, tmp_path: Path) -> None:
    folder = tmp_path / "views"
    folder.mkdir()
    (folder / "audiences.sql").write_text(AUDIENCES, encoding="utf-8")
    lane = lane.with_views(folder)
    views = {v.name: v for v in lane.settings.views}
    assert list(views) == ["locations", "audiences", "hashtags", "languages"]
    audiences = views["audiences"]

    # make init: the tables and the serving view of every view, the new one included.
    init = run_module("lambda_common", "init", env=lane.env())
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    assert view_rows(lane.settings, audiences, "serving") == {}

    now = datetime.now(UTC)
    send_raw(lane.settings, messages_of(_events(now)))
    cycle = run_module("batch_layer", "once", env=lane.env())
    assert cycle.returncode == 0, cycle.stderr[-2000:]
    with Warehouse(lane.settings) as wh:
        (horizon,) = wh.query("SELECT MAX(horizon) FROM batch_horizon")[0]
    assert horizon is not None

    speed = SpeedJob(lane, tmp_path)
    speed.start()
    try:
        extra = {"audiences": _audience}
        wait_until_equal(
            speed,
            lambda: all_views_rows(lane.settings, "serving"),
            lambda: expected_all_views(lane.settings, datetime.now(UTC), lambda h: True, extra),
        )
        assert views_served_twice(lane.settings) == {}
        # The horizon rule, for the new view: hours before it come from batch_audiences,
        # the others from speed_audiences, each key from one of them only.
        copies = first_copies(lane.settings, datetime.now(UTC)).values()
        batch = view_rows(lane.settings, audiences, "batch")
        speed_rows = view_rows(lane.settings, audiences, "speed")
        served = view_rows(lane.settings, audiences, "serving")
        assert batch == aggregate(copies, _audience, lambda hour: hour < horizon)
        assert speed_rows == aggregate(copies, _audience, lambda hour: hour >= horizon)
        assert batch and speed_rows, (horizon, batch, speed_rows)
        assert not batch.keys() & speed_rows.keys()
        assert served == batch | speed_rows
        assert {key[1] for key in served} == {"small", "large", "mega"}
        assert max(sums[1] for sums in served.values()) > TOP  # past a bigint, exact
        _check_the_reader_can_query(lane, served)
        assert speed.stop() == 0, speed.tail()
    finally:
        if speed.alive():
            speed.kill()


def _check_the_reader_can_query(lane: Lane, served: dict[ViewKey, ViewSums]) -> None:
    """``make query`` (the reader's role) reads the new serving view."""
    result = run_module(
        "serving_layer", "query", "--sql",
        "SELECT audience, SUM(tweet_count) AS tweets FROM serving_audiences GROUP BY audience",
        "--format", "json", env=lane.env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    want: dict[str, int] = {}
    for (_, audience), sums in served.items():
        want[audience] = want.get(audience, 0) + sums[0]
    assert {row["audience"]: row["tweets"] for row in json.loads(result.stdout)} == want
