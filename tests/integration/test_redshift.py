"""The batch layer against a real Amazon Redshift cluster: opt-in.

No Redshift exists on a developer machine or in CI, so this runs only when
``REDSHIFT_TEST_DSN`` is set (a **scratch** database: the test drops and recreates the
pipeline's tables in its default schema). It also needs a real S3 bucket the cluster can
read (``REDSHIFT_TEST_S3_BUCKET``, in ``AWS_REGION``) and either ``REDSHIFT_IAM_ROLE`` or
AWS keys in the environment. Kafka is the test session's own broker.

    REDSHIFT_TEST_DSN=postgresql://user:pass@cluster.xxx.redshift.amazonaws.com:5439/scratch \\
    REDSHIFT_TEST_S3_BUCKET=my-scratch-bucket REDSHIFT_IAM_ROLE=arn:aws:iam::1:role/copy \\
    make test-integration PYTEST_ARGS="-k redshift"
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from batch_layer.cycle import horizon_for, run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.broker import ensure_topic
from lambda_common.contract import Event, parse_event
from lambda_common.rows import warehouse_text
from lambda_common.settings import load_settings
from lambda_common.warehouse import Warehouse
from tests.stack import StackHandle

from .helpers import send_raw

DSN = os.environ.get("REDSHIFT_TEST_DSN", "")
BUCKET = os.environ.get("REDSHIFT_TEST_S3_BUCKET", "")

pytestmark = pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)

TABLES = (
    "raw_tweets",
    "load_ledger",
    "batch_view",
    "batch_daily",
    "batch_horizon",
    "batch_watermarks",
    "speed_view",
)


def test_a_cycle_on_redshift_gives_exact_counts_and_a_rerun_is_a_no_op(
    stack: StackHandle,
) -> None:
    now = datetime.now(UTC)
    topic = stack.unique("it_redshift")
    # Validated like any start-up: the role ARN, region and DSN are checked here.
    settings = load_settings(
        kafka_bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        kafka_topic=topic,
        warehouse_dsn=DSN,
        warehouse_dialect="redshift",
        s3_endpoint_url="",
        s3_bucket=BUCKET,
    )
    with Warehouse(settings) as wh:
        # The view first: Redshift will not drop a table a view reads. Dropping speed_view
        # too lets a scratch database from before the sums were DECIMAL(38,0) start again.
        wh.execute("DROP VIEW IF EXISTS serving_view")
        for table in TABLES:
            wh.execute(f'DROP TABLE IF EXISTS "{table}"')
    ensure_topic(settings, topic, partitions=3)
    events = list(
        SyntheticTweets(
            SyntheticOptions(
                seed=5, count=2000, start=now - timedelta(days=1), end=now, duplicate_fraction=0.1
            )
        )
    )
    # Two tweets with the largest counts in one group: their sums overflow a bigint.
    top = 2**63 - 1
    events += [
        Event(
            tweet_id=tweet_id,
            created_at=now - timedelta(hours=3),
            user_id="u",
            followers_count=top,
            favorite_count=top,
            retweet_count=top,
            location="Overflow City",
        )
        for tweet_id in ("11", "12")
    ]
    send_raw(
        settings,
        [(e.tweet_id.encode(), e.to_json_bytes()) for e in events] + [(b"1", b"{broken")],
    )

    result = run_cycle(settings, now=now)
    assert (result.rejects, result.loaded) == (1, True)
    horizon = horizon_for(now, settings.allowed_lateness)
    # Duplicates are re-captures of the same tweet sent later: the first one sent wins.
    first: dict[str, Event] = {}
    for e in events:
        parsed = parse_event(e.to_json_bytes(), now=now)
        assert isinstance(parsed, Event)
        first.setdefault(parsed.tweet_id, parsed)
    expected: dict[tuple[datetime, str], int] = {}
    for e in first.values():
        if e.event_hour < horizon:
            key = (e.event_hour, warehouse_text(e.location_key))
            expected[key] = expected.get(key, 0) + 1
    with Warehouse(settings) as wh:
        rows = wh.query("SELECT event_hour, location, tweet_count FROM batch_view")
    assert {(r[0], r[1]): int(r[2]) for r in rows} == expected
    with Warehouse(settings) as wh:
        sums = wh.query(
            "SELECT followers_sum, favorite_sum, retweet_sum FROM serving_view "
            "WHERE location = 'Overflow City'"
        )
    assert sums == [(2 * top, 2 * top, 2 * top)]

    again = run_cycle(settings, now=now)
    assert (again.objects, again.loaded) == (0, False)
