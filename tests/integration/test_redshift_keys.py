"""Keys whose cut would end in a space, on a real Redshift: opt-in (see test_redshift.py).

Redshift compares VARCHARs ignoring trailing spaces ("Character types": trailing blanks are
not significant), so two keys differing only there would be one group to ``GROUP BY`` and
to a join, and the speed layer's increment would reach both rows. The contract trims every
key again after its cut, so no key the pipeline writes ends in a space: a location of 199
letters and one of the same letters followed by `` B`` (whose cut leaves a space) are one
key, counted once per tweet by the batch layer, the speed layer and the serving view.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batch_layer.cycle import horizon_for, run_cycle
from lambda_common.contract import Event
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from speed_layer.view import SpeedView
from tests.integration.helpers import Lane

from .test_redshift import BUCKET, DSN, _send, redshift

__all__ = ["redshift"]  # the fixture, used by name

SHORT = "A" * 199
CUT_TO_A_SPACE = SHORT + " B"  # 201 code points: its cut at 200 ends in the space
TAG = "h" * 99
TAG_CUT_TO_A_SPACE = TAG + " k"  # the same at the hashtag's 100


def _event(tweet_id: str, when: datetime, location: str, hashtag: str) -> Event:
    return Event(
        tweet_id=tweet_id,
        created_at=when,
        user_id="u",
        followers_count=1,
        favorite_count=1,
        retweet_count=1,
        location=location,
        hashtags=(hashtag,),
    )


@pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)
def test_keys_cut_to_a_trailing_space_are_one_key_in_every_layer_on_redshift(
    redshift: Settings,
) -> None:
    _check_keys(redshift)


def test_keys_cut_to_a_trailing_space_are_one_key_in_every_layer_on_postgres(lane: Lane) -> None:
    """The same on PostgreSQL, which keeps trailing spaces apart: the test's own check."""
    _check_keys(lane.settings)


def _check_keys(settings: Settings) -> None:
    assert _event("0", datetime.now(UTC), CUT_TO_A_SPACE, TAG).location_key == SHORT
    now = datetime.now(UTC)
    old = now - timedelta(hours=4)
    _send(
        settings,
        [
            _event("1", old, SHORT, TAG),
            _event("2", old, CUT_TO_A_SPACE, TAG_CUT_TO_A_SPACE),
        ],
        [],
    )
    assert run_cycle(settings, now=now).loaded
    horizon = horizon_for(now, settings.allowed_lateness)
    current = now.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    assert current >= horizon
    with Warehouse(settings) as wh:
        # The speed layer's rows of two tweets of the current hour, keyed as the contract
        # keys them (Spark and the batch layer call the same normalisation).
        speed = SpeedView(settings, wh)
        assert speed.apply("q", 0, {"locations": [(current, SHORT, 1, 1, 1, 1)]}) is not None
        assert speed.apply("q", 1, {"locations": [(current, SHORT, 1, 1, 1, 1)]}) is not None
        batch = wh.query("SELECT location, tweet_count FROM batch_view")
        tags = wh.query("SELECT hashtag, COUNT(*) FROM raw_hashtags GROUP BY hashtag")
        served = wh.query(
            "SELECT event_hour, location, tweet_count FROM serving_view ORDER BY event_hour"
        )
        # No stored key ends in a space: the comparison Redshift makes cannot merge two.
        (spaced,) = wh.query(
            "SELECT COUNT(*) FROM raw_tweets WHERE OCTET_LENGTH(location) <> "
            "OCTET_LENGTH(RTRIM(location))"
        )[0]
    assert [(loc, int(n)) for loc, n in batch] == [(SHORT, 2)]
    assert [(tag, int(n)) for tag, n in tags] == [(TAG, 2)]
    assert [(h, loc, int(n)) for h, loc, n in served] == [
        (old.replace(minute=0, second=0, microsecond=0, tzinfo=None), SHORT, 2),
        (current, SHORT, 2),
    ]
    assert int(spaced) == 0
