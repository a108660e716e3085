"""make status against the real broker, S3 server and warehouse, run as the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg2 import sql

from batch_layer.cycle import run_cycle
from lambda_common.warehouse import Warehouse
from serving_layer import status

from .helpers import Lane, run_module, send_raw


def _status(lane: Lane, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_module("serving_layer", "status", *args, env={**lane.env(), **env}, timeout=60)


def _lines(stdout: str) -> dict[str, tuple[str, str]]:
    """check name -> (level, detail), from the table (summary line left out)."""
    out = {}
    for line in stdout.splitlines()[:-1]:
        level, name, detail = re.split(r"\s+", line, maxsplit=2)
        out[name] = (level, detail)
    return out


def test_fresh_lane_warns_and_exits_0(lane: Lane) -> None:
    before = _status(lane)
    assert before.returncode == 0, before.stdout + before.stderr
    checks = _lines(before.stdout)
    assert checks["warehouse.schema"] == (
        "WARN",
        "pipeline not set up yet (run make batch-once or make demo)",
    )

    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
    result = _status(lane)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = _lines(result.stdout)
    assert checks["kafka.topic"] == ("OK", f"{lane.settings.kafka_topic}: 3 partitions, 0 messages")
    for p in range(3):
        assert checks[f"kafka.partition.{p}"] == ("OK", "end 0 committed - lag 0")
    assert checks["batch.horizon"][0] == "WARN"
    assert "no batch cycle yet" in checks["batch.horizon"][1]
    assert checks["speed.last-batch"][0] == "WARN"
    # Every view's lines, named from its definition.
    for view in lane.settings.views:
        assert checks[f"rows.{view.batch_table}"] == ("OK", "0")
        assert checks[f"rows.{view.speed_table}"] == ("OK", "0")
        assert checks[f"rows.{view.serving_view}"] == ("OK", "0 rows, 0 tweets")
        assert checks[f"serving.integrity.{view.name}"][0] == "OK"
    assert checks["rows.raw_hashtags"] == ("OK", "0")
    assert not any(level == "FAIL" for level, _ in checks.values())
    assert result.stdout.splitlines()[-1] == f"status: {len(checks) - 2} OK, 2 WARN, 0 FAIL"

    as_json = _status(lane, "--format", "json")
    assert as_json.returncode == 0
    document = json.loads(as_json.stdout)
    assert document["status"] == "WARN"
    assert [c["name"] for c in document["checks"]] == list(checks)


def _event(tweet_id: int, created_at: datetime) -> tuple[bytes, bytes]:
    event = {
        "tweet_id": str(tweet_id),
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_id": f"u{tweet_id}",
        "followers_count": 10,
        "favorite_count": 1,
        "retweet_count": 2,
        "location": "Berlin",
        # Two distinct hashtag keys (lambda, kafka) and one language (de).
        "hashtags": ["#Lambda", "lambda ", "Kafka"],
        "lang": " DE",
    }
    return str(tweet_id).encode(), json.dumps(event).encode()


def test_after_a_batch_cycle_and_a_micro_batch_all_is_ok(lane: Lane) -> None:
    now = datetime.now(UTC)
    # Two hours back: before the horizon, so served from the batch view.
    events = [_event(1000 + i, now - timedelta(hours=2)) for i in range(30)]
    send_raw(lane.settings, [*events, (b"9", b"not json")])
    result = run_cycle(lane.settings)
    assert (result.events, result.rejects) == (30, 1)
    naive = now.replace(tzinfo=None)
    with Warehouse(lane.settings) as wh:
        wh.execute(
            "INSERT INTO speed_batches (batch_id, input_rows, rejects, rows_written, "
            "duration_ms, max_event_time, finished_at) VALUES (0, 31, 1, 0, 120, %s, %s)",
            (naive - timedelta(hours=2), naive),
        )

    status = _status(lane)
    assert status.returncode == 0, status.stdout + status.stderr
    checks = _lines(status.stdout)
    assert {level for level, _ in checks.values()} == {"OK"}, status.stdout
    assert status.stdout.splitlines()[-1] == f"status: {len(checks)} OK, 0 WARN, 0 FAIL"
    assert checks["kafka.topic"][1].startswith(f"{lane.settings.kafka_topic}: 3 partitions, 31 ")
    partitions = [checks[f"kafka.partition.{p}"][1] for p in range(3)]
    assert all(line.endswith(" lag 0") for line in partitions), partitions
    ends = [int(re.match(r"end (\d+)", line)[1]) for line in partitions]  # type: ignore[index]
    assert sum(ends) == 31
    assert checks["batch.rejects"][1] == "1 of 31 messages (3.2%)"
    assert checks["speed.rejects"][1] == "1 of 31 messages in the last day (3.2%)"
    assert checks["speed.last-batch"][1].startswith("batch 0 finished ")
    assert checks["rows.raw_tweets"][1] == "30"
    assert checks["rows.raw_hashtags"][1] == "60"
    assert checks["rows.batch_view"][1] == "1"
    assert checks["rows.speed_view"][1] == "0"
    assert checks["rows.serving_view"][1] == "1 row, 30 tweets"
    assert checks["serving.integrity.locations"] == (
        "OK",
        "no (hour, location) served twice by serving_view",
    )
    # A tweet counts once for each distinct hashtag it carries.
    assert checks["rows.batch_hashtags"][1] == "2"
    assert checks["rows.serving_hashtags"][1] == "2 rows, 60 tweets"
    assert checks["serving.integrity.hashtags"][0] == "OK"
    assert checks["rows.batch_languages"][1] == "1"
    assert checks["rows.serving_languages"][1] == "1 row, 30 tweets"
    assert checks["serving.integrity.languages"][0] == "OK"


def test_unreachable_warehouse_fails_in_one_line_without_the_password(lane: Lane) -> None:
    password = "pw-that-must-not-show"
    # make status reads the warehouse as QUERY_DSN's user.
    dsn = f"postgresql://lambda_reader:{password}@127.0.0.1:1/lambda"
    result = _status(lane, QUERY_DSN=dsn)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert password not in output
    assert "Traceback" not in output
    checks = _lines(result.stdout)
    level, detail = checks["warehouse"]
    assert level == "FAIL"
    assert "warehouse at postgresql://lambda_reader:***@127.0.0.1:1/lambda is unreachable" in detail
    # The other services are still checked.
    assert checks["kafka"][0] == "OK"
    assert checks["s3"][0] == "OK"
    assert result.stdout.splitlines()[-1].endswith(" 1 FAIL")


def _gathered(lane: Lane, now: datetime) -> dict[str, status.Check]:
    """The real gatherers' facts, judged: check name -> check."""
    settings = lane.settings
    facts = status.Facts(
        kafka=status.gather_kafka(settings),
        s3=status.gather_s3(settings),
        warehouse=status.gather_warehouse(settings, now),
    )
    assert facts.warehouse.error is None, facts.warehouse.error
    return {c.name: c for c in status.evaluate(facts, settings, now)}


def test_the_batch_layers_records_of_trouble_fail_until_resolved(lane: Lane) -> None:
    settings = lane.settings
    topic = settings.kafka_topic
    now = datetime.now(UTC).replace(tzinfo=None)
    horizon = datetime(2026, 11, 25, 11, 0)
    read_before = "0b7c2a51-1d2e-4f3a-8b9c-0d1e2f3a4b5c"
    detected = datetime(2026, 11, 25, 9, 7)
    with Warehouse(settings) as wh:
        wh.ensure_schema()
        # The batch layer registered another incarnation: as if the topic was deleted and
        # re-created since (its newest generation is the one compared).
        for generation, topic_id in ((0, str(uuid.uuid4())), (1, read_before)):
            wh.execute(
                "INSERT INTO batch_topics (topic, generation, topic_id, started_at) "
                "VALUES (%s, %s, %s, %s)",
                (topic, generation, topic_id, now),
            )
        losses = [
            (topic, 1, 2, 120, 499, None),  # unacknowledged: FAILs
            (topic, 1, 1, 0, 9, now),  # acknowledged: only counted
            ("another_topic", 0, 0, 5, 6, None),  # not this topic's
        ]
        for row in losses:
            wh.execute(
                "INSERT INTO lost_offsets (topic, generation, kafka_partition, first_offset, "
                "last_offset, detected_at, acknowledged_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (*row[:5], detected, row[5]),
            )
        # Batch processes took partitions 0 and 1 (PARTITIONS=0,1): nobody takes 2.
        for partition in (0, 1):
            wh.execute(
                "INSERT INTO batch_watermarks (topic, kafka_partition, horizon) "
                "VALUES (%s, %s, %s)",
                (topic, partition, horizon),
            )
        wh.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (horizon,))

    kafka = status.gather_kafka(settings)
    assert kafka.topic_id is not None and kafka.topic_id != read_before
    assert str(uuid.UUID(kafka.topic_id)) == kafka.topic_id  # stored as the batch layer does
    checks = _gathered(lane, now)
    assert checks["kafka.topic_id"] == status.Check(
        status.Level.FAIL,
        "kafka.topic_id",
        f"topic {topic} was deleted and re-created (Kafka's id {kafka.topic_id}, the batch "
        f"layer read {read_before}): the batch layer stops until make batch-reset",
    )
    assert checks["batch.lost.2.120.gen1"] == status.Check(
        status.Level.FAIL,
        "batch.lost.2.120.gen1",
        f"messages 120..499 of {topic}/2 (generation 1) expired before the batch layer "
        "landed them (detected 2026-11-25 09:07); acknowledge with make batch-ack-loss",
    )
    assert [name for name in checks if name.startswith("batch.lost")] == ["batch.lost.2.120.gen1"]
    assert checks["batch.partition.2"] == status.Check(
        status.Level.FAIL,
        "batch.partition.2",
        "partition 2 has never been landed by a batch process: no batch process takes it "
        "(PARTITIONS=...), so the horizon is held at 2026-11-25 11:00; give it an owner "
        "(docs/scaling.md: Scaling out the batch layer)",
    )
    assert [name for name in checks if name.startswith("batch.partition.")] == ["batch.partition.2"]
    # The command says the same, and exits 1.
    result = _status(lane)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _lines(result.stdout)
    for name in ("kafka.topic_id", "batch.lost.2.120.gen1", "batch.partition.2"):
        assert lines[name] == ("FAIL", checks[name].detail)

    # What make batch-reset, make batch-ack-loss and an owner for partition 2 leave behind.
    with Warehouse(settings) as wh:
        wh.execute(
            "INSERT INTO batch_topics (topic, generation, topic_id, started_at) "
            "VALUES (%s, 2, %s, %s)",
            (topic, kafka.topic_id, now),
        )
        wh.execute("UPDATE lost_offsets SET acknowledged_at = %s WHERE topic = %s", (now, topic))
        wh.execute(
            "INSERT INTO batch_watermarks (topic, kafka_partition, horizon) VALUES (%s, 2, %s)",
            (topic, horizon),
        )
    checks = _gathered(lane, now)
    assert checks["kafka.topic_id"] == status.Check(
        status.Level.OK,
        "kafka.topic_id",
        f"{topic} is the incarnation the batch layer reads (id {kafka.topic_id}, generation 2)",
    )
    assert checks["batch.lost"] == status.Check(
        status.Level.OK, "batch.lost", "no unacknowledged offset loss (2 acknowledged)"
    )
    assert not any(name.startswith(("batch.lost.", "batch.partition.")) for name in checks)


def test_an_older_schema_without_the_batch_layers_records_warns(lane: Lane) -> None:
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
        wh.execute("DROP TABLE batch_topics, lost_offsets")
    result = _status(lane)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    checks = _lines(result.stdout)
    assert checks["warehouse.schema"] == (
        "WARN",
        "pipeline not set up yet (run make batch-once or make demo); "
        "missing batch_topics, lost_offsets",
    )
    assert "kafka.topic_id" not in checks


def test_a_key_served_twice_fails_that_views_integrity_only(lane: Lane) -> None:
    settings = lane.settings
    now = datetime.now(UTC).replace(tzinfo=None)
    hour = datetime(2026, 11, 25, 9)
    with Warehouse(settings) as wh:
        wh.ensure_schema()
        wh.execute("INSERT INTO batch_hashtags VALUES (%s, 'python', 2, 20, 1, 0)", (hour,))
        wh.execute("INSERT INTO speed_hashtags VALUES (%s, 'python', 1, 10, 0, 0)", (hour,))
        wh.execute("INSERT INTO speed_hashtags VALUES (%s, 'kafka', 1, 10, 0, 0)", (hour,))
        # A serving view that breaks the horizon rule: both layers' rows, always.
        with wh.transaction() as cur:
            cur.execute("DROP VIEW serving_hashtags")
            cur.execute(
                "CREATE VIEW serving_hashtags AS "
                "SELECT * FROM batch_hashtags UNION ALL SELECT * FROM speed_hashtags"
            )
            cur.execute(
                sql.SQL("GRANT SELECT ON serving_hashtags TO {}").format(
                    sql.Identifier(settings.query.user)
                )
            )
    checks = _gathered(lane, now)
    assert checks["serving.integrity.hashtags"] == status.Check(
        status.Level.FAIL,
        "serving.integrity.hashtags",
        "1 (hour, hashtag) groups served more than once by serving_hashtags",
    )
    assert checks["rows.serving_hashtags"].detail == "3 rows, 4 tweets"
    assert checks["serving.integrity.locations"].level is status.Level.OK
    assert checks["serving.integrity.languages"].level is status.Level.OK
    result = _status(lane)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _lines(result.stdout)["serving.integrity.hashtags"][0] == "FAIL"


VIEW_OF_MY_OWN = """-- view: lang_places
-- key: lang varchar(140)
-- key: location varchar(800)
-- reads: tweets
SELECT
    event_hour,
    lang,
    location,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweets
GROUP BY event_hour, lang, location
"""


def test_a_view_of_ones_own_gets_its_lines(lane: Lane, tmp_path: Path) -> None:
    """VIEWS_DIR adds a view: make status reads and checks it like the shipped ones."""
    (tmp_path / "lang_places.sql").write_text(VIEW_OF_MY_OWN, encoding="utf-8")
    settings = lane.settings.model_copy(update={"views_dir": tmp_path})
    assert "lang_places" in [v.name for v in settings.views]
    now = datetime.now(UTC)
    send_raw(settings, [_event(2000 + i, now - timedelta(hours=2)) for i in range(4)])
    assert run_cycle(settings).events == 4

    result = _status(lane, VIEWS_DIR=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = _lines(result.stdout)
    assert checks["rows.batch_lang_places"] == ("OK", "1")
    assert checks["rows.speed_lang_places"] == ("OK", "0")
    assert checks["rows.serving_lang_places"] == ("OK", "1 row, 4 tweets")
    assert checks["serving.integrity.lang_places"] == (
        "OK",
        "no (hour, lang, location) served twice by serving_lang_places",
    )
    # Without VIEWS_DIR the report knows only the shipped views.
    assert not any("lang_places" in name for name in _lines(_status(lane).stdout))
