"""``make verify`` and ``make lake-query`` on the real S3 server and warehouse: a lane
landed by real batch cycles verifies OK; a batch row edited by hand, a raw_tweets row
deleted (the views rebuilt), a master object deleted and a duplicate copy loaded by hand
each FAIL, naming the view and key (or the object); ``make lake-query`` counts what S3
holds, duplicates and rejects included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from batch_layer.cycle import run_cycle
from batch_layer.lake.query import run_lake_query
from batch_layer.lake.verify import verify
from batch_layer.operations import rebuild_views
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from serving_layer.status_gather import gather_warehouse

from .helpers import Lane, run_module, send_raw

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
DUPLICATES = 0.1


def _land(settings: Settings, seed: int, good: int, bad: int) -> int:
    """Produce ``good`` synthetic events (some duplicated) and ``bad`` rejects, and run
    a batch cycle; returns the messages sent."""
    options = SyntheticOptions(
        seed=seed,
        count=good,
        start=NOW - timedelta(days=1),
        end=NOW - timedelta(hours=3),
        duplicate_fraction=DUPLICATES,
    )
    messages = [(e.tweet_id.encode(), e.to_json_bytes()) for e in SyntheticTweets(options)]
    messages += [(f"bad-{seed}-{i}".encode(), b"{not json") for i in range(bad)]
    send_raw(settings, messages)
    run_cycle(settings, now=NOW)
    return len(messages)


def _lines(settings: Settings) -> dict[str, str]:
    report = verify(settings)
    return {o.name.split()[0]: o.line for o in report.outcomes}


def test_verify_passes_then_names_each_tampering(lane: Lane) -> None:
    settings = lane.settings
    _land(settings, 31, good=1500, bad=4)
    _land(settings, 32, good=500, bad=0)

    report = verify(settings)
    assert report.ok, report.text
    assert [o.name.split()[0] for o in report.outcomes] == [
        "load_ledger",
        *(v.name for v in settings.views),
    ]
    with Warehouse(settings) as wh:
        ((raw,),) = wh.query("SELECT COUNT(*) FROM raw_tweets")
        ((tweets,),) = wh.query("SELECT SUM(tweet_count) FROM batch_view")
        ((events, rejects),) = wh.query("SELECT SUM(events), SUM(rejects) FROM load_ledger")
    assert tweets == raw > 1500
    assert report.events == events > raw  # duplicates included
    assert f"{raw:,} tweets match" in report.outcomes[1].line
    assert rejects == 4
    # One UTC day: only its hours are compared (every object is still read).
    day = (NOW - timedelta(days=1)).date()
    narrow = verify(settings, since=day, until=day)
    with Warehouse(settings) as wh:
        ((rows_of_day,),) = wh.query(
            "SELECT COUNT(*) FROM batch_view WHERE CAST(event_hour AS date) = %s", (day,)
        )
    assert narrow.ok and narrow.events == report.events
    assert narrow.outcomes[1].rows == rows_of_day > 0
    empty = verify(settings, since=day - timedelta(days=5), until=day - timedelta(days=4))
    assert empty.ok and [o.rows for o in empty.outcomes[1:]] == [0, 0, 0]

    # A batch row edited by hand (as the pipeline's writer).
    with Warehouse(settings) as wh:
        ((hour, location),) = wh.query(
            "SELECT event_hour, location FROM batch_view ORDER BY event_hour, location LIMIT 1"
        )
        wh.execute(
            "UPDATE batch_view SET followers_sum = followers_sum + 1 "
            "WHERE event_hour = %s AND location = %s",
            (hour, location),
        )
    lines = _lines(settings)
    assert lines["locations"].startswith("FAIL locations (batch_view): 1 of ")
    assert f"({hour:%Y-%m-%d %H:%M}, {location!r})" in lines["locations"]
    assert lines["hashtags"].startswith("OK") and lines["load_ledger"].startswith("OK")
    rebuild_views(settings)

    # A raw_tweets row deleted, and the views rebuilt from the raw tables.
    with Warehouse(settings) as wh:
        (row,) = wh.query("SELECT * FROM raw_tweets ORDER BY tweet_id LIMIT 1")
        columns = wh.query(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'raw_tweets' AND table_schema = current_schema() "
            "ORDER BY ordinal_position"
        )
        record = dict(zip([c for (c,) in columns], row, strict=True))
        wh.execute("DELETE FROM raw_tweets WHERE tweet_id = %s", (record["tweet_id"],))
    rebuild_views(settings)
    lines = _lines(settings)
    key = f"({record['event_hour']:%Y-%m-%d %H:%M}, {record['location']!r})"
    assert lines["locations"].startswith("FAIL locations (batch_view): 1 of ")
    assert key in lines["locations"]
    with Warehouse(settings) as wh:
        names = ", ".join(record)
        marks = ", ".join(["%s"] * len(record))
        insert = f"INSERT INTO raw_tweets ({names}) VALUES ({marks})"  # noqa: S608
        wh.execute(insert, list(record.values()))
    rebuild_views(settings)
    assert verify(settings).ok

    # A master object removed from S3.
    store = S3ObjectStore(settings)
    with Warehouse(settings) as wh:
        ((key, count),) = wh.query(
            "SELECT object_key, events FROM load_ledger WHERE events > 0 "
            "ORDER BY object_key LIMIT 1"
        )
    store.delete(key)
    lines = _lines(settings)
    assert lines["load_ledger"].startswith("FAIL load_ledger: 1 of ")
    assert f"{key}: ledger {count:,} events and " in lines["load_ledger"]
    assert "S3 has no such object" in lines["load_ledger"]
    assert lines["locations"].startswith("FAIL")


def test_the_commands_query_in_place_verify_and_record_the_run(lane: Lane) -> None:
    settings = lane.settings
    sent = _land(settings, 41, good=400, bad=3)
    env = lane.env()
    text = "SELECT COUNT(*) AS copies, COUNT(DISTINCT tweet_id) AS tweets FROM master_tweets"
    done = run_module("batch_layer.lake", "query", "--sql", text, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    ((copies, tweets),) = [tuple(r.values()) for r in json.loads(done.stdout)]
    with Warehouse(settings) as wh:
        ((raw,),) = wh.query("SELECT COUNT(*) FROM raw_tweets")
    assert tweets == raw and copies == sent - 3 > raw
    rejects = "SELECT reason FROM master_rejects WHERE dt >= DATE '2000-01-01'"
    done = run_module("batch_layer.lake", "query", "--sql", rejects, "--format", "csv", env=env)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + 3

    refused = run_module("batch_layer.lake", "query", "--sql", "COPY master_tweets TO 'x'", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("error: only a SELECT may run")

    done = run_module("batch_layer.lake", "verify", env=env)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["OK"] * 4 + ["verify:"]
    with Warehouse(settings, role="reader") as wh:
        ((ok, views, rows, events),) = wh.query(
            "SELECT ok, views, rows_compared, events FROM verify_runs"
        )
    assert (ok, views, events) == (True, 3, copies) and rows > 0
    # The dashboard and make status read it through SQL, as the reader.
    run = gather_warehouse(settings, datetime.now(UTC)).last_verify
    assert run is not None and (run.ok, run.rows, run.events) == (True, rows, events)


COPY_COLUMNS = (
    "tweet_id, created_at, event_hour, location, user_id, followers_count, favorite_count, "
    "retweet_count, kafka_partition, kafka_offset, lang"
)


def test_verify_names_a_duplicate_copy_loaded_by_hand(lane: Lane) -> None:
    """An operator finds a copy of an event in the master dataset (``make lake-query``:
    one the pipeline's de-duplication left out) and loads it into the warehouse by hand.
    On Redshift nothing refuses it: its primary keys are informational, not enforced
    (https://docs.aws.amazon.com/redshift/latest/dg/t_Defining_constraints.html), so
    raw_tweets then holds the tweet twice and the next rebuild counts it twice. The
    lane's PostgreSQL is made to behave so (its primary keys dropped); make verify FAILs
    naming each view and key the copy reached, and passes again once it is removed."""
    settings = lane.settings
    _land(settings, 51, good=600, bad=0)
    assert verify(settings).ok

    # The second copy (by partition and offset) of a tweet with hashtags, read from S3.
    second = (
        f"SELECT {COPY_COLUMNS}, hashtags FROM master_tweets WHERE len(hashtags) > 0 "  # noqa: S608
        'QUALIFY row_number() OVER (PARTITION BY tweet_id ORDER BY "partition", kafka_offset) '
        "= 2 ORDER BY tweet_id LIMIT 1"
    )
    found = run_lake_query(settings, second, timeout_s=120)
    (row,) = found.rows
    copy, tags = row[:-1], sorted(row[-1])
    tweet_id, hour, location, lang = copy[0], copy[2], copy[3], copy[10]
    with Warehouse(settings) as wh:
        ((tweets_there,),) = wh.query(
            "SELECT tweet_count FROM batch_view WHERE event_hour = %s AND location = %s",
            (hour, location),
        )
        wh.execute("ALTER TABLE raw_tweets DROP CONSTRAINT raw_tweets_pkey")
        wh.execute("ALTER TABLE raw_hashtags DROP CONSTRAINT raw_hashtags_pkey")
        marks = ", ".join(["%s"] * len(copy))
        wh.execute(f"INSERT INTO raw_tweets ({COPY_COLUMNS}) VALUES ({marks})", list(copy))  # noqa: S608
        for tag in tags:
            wh.execute(
                "INSERT INTO raw_hashtags (tweet_id, hashtag, event_hour) VALUES (%s, %s, %s)",
                (tweet_id, tag, hour),
            )
        ((stored,),) = wh.query("SELECT COUNT(*) FROM raw_tweets WHERE tweet_id = %s", (tweet_id,))
    assert stored == 2
    rebuild_views(settings)

    lines = _lines(settings)
    assert lines["load_ledger"].startswith("OK"), lines  # S3 and the ledger are untouched
    shown = f"{hour:%Y-%m-%d %H:%M}"
    assert lines["locations"].startswith("FAIL locations (batch_view): 1 of "), lines
    assert (
        f"({shown}, {location!r}): warehouse tweet_count {tweets_there + 1}," in lines["locations"]
    )
    assert f"master dataset tweet_count {tweets_there}," in lines["locations"]
    assert lines["languages"].startswith("FAIL languages (batch_languages): 1 of "), lines
    assert f"({shown}, {lang!r}): warehouse tweet_count " in lines["languages"]
    assert lines["hashtags"].startswith(f"FAIL hashtags (batch_hashtags): {len(tags)} of ")
    assert f"({shown}, {tags[0]!r}): warehouse tweet_count " in lines["hashtags"]

    # The repair: the copy taken out, the keys enforced again, the views rebuilt.
    with Warehouse(settings) as wh:
        wh.execute(
            "DELETE FROM raw_tweets WHERE tweet_id = %s AND kafka_offset = %s", (tweet_id, copy[9])
        )
        wh.execute("DELETE FROM raw_hashtags WHERE tweet_id = %s", (tweet_id,))
        for tag in tags:
            wh.execute(
                "INSERT INTO raw_hashtags (tweet_id, hashtag, event_hour) VALUES (%s, %s, %s)",
                (tweet_id, tag, hour),
            )
        wh.execute("ALTER TABLE raw_tweets ADD PRIMARY KEY (tweet_id)")
        wh.execute("ALTER TABLE raw_hashtags ADD PRIMARY KEY (tweet_id, hashtag)")
    rebuild_views(settings)
    assert verify(settings).ok
