"""make status: the pure judgement of crafted facts (no services), and its output."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from lambda_common.settings import Settings, load_settings
from lambda_common.sql import DIALECTS, load_sql, statements
from lambda_common.views import Key, View, load_views
from lambda_common.warehouse import Warehouse
from serving_layer import status_gather
from serving_layer.status import (
    TABLES,
    Check,
    Facts,
    IncarnationFacts,
    KafkaFacts,
    Level,
    LossFacts,
    PartitionFacts,
    S3Facts,
    SpeedBatchFacts,
    ViewFacts,
    WarehouseFacts,
    evaluate,
    exit_code,
    relations,
    render_json,
    render_table,
    speed_fresh_limit,
    summary,
    worst,
)
from tests.unit.fake_connection import FakeConnection, FakeCursor

NOW = datetime(2026, 11, 25, 12, 30, 0)
# ALLOWED_LATENESS 10 min, BATCH_INTERVAL 5 min: the horizon may be 10m + 1h + 2*5m old.
HORIZON_LIMIT = timedelta(hours=1, minutes=20)
TOPIC_ID = "5f0c6c39-8a3e-4c1e-9d52-0e0b2f3a7c11"


@pytest.fixture
def settings() -> Settings:
    return load_settings(allowed_lateness="10m", batch_interval="5m", speed_trigger="1s")


def healthy() -> Facts:
    """A pipeline in its steady state: every check OK."""
    return Facts(
        kafka=KafkaFacts(
            servers="localhost:9092",
            topic="tweets",
            brokers=1,
            topic_exists=True,
            partitions=[
                PartitionFacts(p, 0, 1_000 + p, 900, NOW - timedelta(seconds=2)) for p in range(3)
            ],
            topic_id=TOPIC_ID,
        ),
        s3=S3Facts(bucket="lambda-tweets", endpoint="http://localhost:9000"),
        warehouse=WarehouseFacts(
            where="postgresql://lambda:***@localhost:5439/lambda",
            dialect="postgres",
            horizon=datetime(2026, 11, 25, 12, 0),
            ledger_events=2_700,
            ledger_rejects=3,
            last_speed_batch=SpeedBatchFacts(41, NOW - timedelta(seconds=1), 12),
            max_event_time=NOW - timedelta(seconds=3),
            speed_input_day=3_000,
            speed_rejects_day=4,
            counts={"raw_tweets": 2_700, "raw_hashtags": 1_900},
            views=tuple(view_facts(v) for v in load_views()),
            incarnation=IncarnationFacts(0, TOPIC_ID, datetime(2026, 11, 20, 8, 0)),
            watermarked=frozenset(range(3)),
        ),
    )


# Each shipped view's counts: batch rows, speed rows, served rows, served tweets.
VIEW_COUNTS = {
    "locations": (40, 12, 50, 3_003),
    "hashtags": (70, 20, 85, 4_100),
    "languages": (15, 6, 19, 3_003),
}


def view_facts(view: View, duplicates: int = 0) -> ViewFacts:
    batch, speed, rows, tweets = VIEW_COUNTS[view.name]
    return ViewFacts(view, batch, speed, rows, tweets, duplicates)


def a_view(name: str) -> View:
    return next(v for v in load_views() if v.name == name)


def with_warehouse(facts: Facts, **changes: object) -> Facts:
    return replace(facts, warehouse=replace(facts.warehouse, **changes))


def with_kafka(facts: Facts, **changes: object) -> Facts:
    return replace(facts, kafka=replace(facts.kafka, **changes))


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


def level_of(facts: Facts, settings: Settings, name: str, now: datetime = NOW) -> Level:
    return by_name(evaluate(facts, settings, now))[name].level


# The whole report ------------------------------------------------------------------------


def test_healthy_pipeline_is_all_ok(settings: Settings) -> None:
    checks = evaluate(healthy(), settings, NOW)
    assert [c for c in checks if c.level is not Level.OK] == []
    assert exit_code(checks) == 0
    assert [c.name for c in checks] == [
        "kafka",
        "kafka.topic",
        "kafka.topic_id",
        "kafka.partition.0",
        "kafka.partition.1",
        "kafka.partition.2",
        "s3",
        "warehouse",
        "batch.horizon",
        "batch.lost",
        "batch.rejects",
        "batch.verify",
        "speed.last-batch",
        "speed.freshness",
        "speed.rejects",
        "rows.raw_tweets",
        "rows.raw_hashtags",
        "rows.batch_view",
        "rows.speed_view",
        "rows.serving_view",
        "serving.integrity.locations",
        "rows.batch_hashtags",
        "rows.speed_hashtags",
        "rows.serving_hashtags",
        "serving.integrity.hashtags",
        "rows.batch_languages",
        "rows.speed_languages",
        "rows.serving_languages",
        "serving.integrity.languages",
    ]
    checks_ = by_name(checks)
    assert checks_["kafka.partition.2"].detail == "end 1,002 committed 900 lag 102"
    assert checks_["kafka.topic"].detail.startswith("tweets: 3 partitions, 3,003 messages")
    assert checks_["rows.raw_tweets"].detail == "2,700"
    assert checks_["rows.raw_hashtags"].detail == "1,900"
    assert checks_["rows.batch_view"].detail == "40"
    assert checks_["rows.speed_hashtags"].detail == "20"
    assert checks_["rows.serving_view"].detail == "50 rows, 3,003 tweets"
    assert checks_["rows.serving_hashtags"].detail == "85 rows, 4,100 tweets"
    assert checks_["serving.integrity.locations"].detail == (
        "no (hour, location) served twice by serving_view"
    )
    assert checks_["serving.integrity.hashtags"].detail == (
        "no (hour, hashtag) served twice by serving_hashtags"
    )
    assert checks_["batch.horizon"].detail == "2026-11-25 12:00 (30m old, limit 1h20m)"
    assert checks_["speed.freshness"].detail == "newest event 2026-11-25 12:29:57 (3s ago)"
    assert checks_["kafka.topic_id"].detail == (
        f"tweets is the incarnation the batch layer reads (id {TOPIC_ID}, generation 0)"
    )
    assert checks_["batch.lost"].detail == "no unacknowledged offset loss"


def test_an_aware_clock_is_read_as_utc(settings: Settings) -> None:
    aware = NOW.replace(tzinfo=UTC).astimezone(datetime.now().astimezone().tzinfo)
    assert evaluate(healthy(), settings, aware) == evaluate(healthy(), settings, NOW)


# Services down ---------------------------------------------------------------------------


def test_unreachable_warehouse_fails_and_the_other_checks_still_run(settings: Settings) -> None:
    message = "warehouse at postgresql://lambda:***@127.0.0.1:1/lambda is unreachable: refused"
    facts = replace(
        healthy(), warehouse=WarehouseFacts("postgresql://...", "postgres", error=message)
    )
    checks = evaluate(facts, settings, NOW)
    assert exit_code(checks) == 1
    failing = [c for c in checks if c.level is Level.FAIL]
    assert failing == [Check(Level.FAIL, "warehouse", message)]
    names = {c.name for c in checks}
    assert {"kafka", "kafka.partition.0", "s3"} <= names
    assert not any(n.startswith(("batch.", "speed.", "rows.", "serving.")) for n in names)


def test_unreachable_kafka_fails_without_topic_lines(settings: Settings) -> None:
    facts = replace(healthy(), kafka=KafkaFacts("k:9092", "tweets", error="Kafka at k:9092 ..."))
    checks = by_name(evaluate(facts, settings, NOW))
    assert checks["kafka"].level is Level.FAIL
    assert not any(name.startswith("kafka.") for name in checks)
    assert checks["s3"].level is Level.OK
    assert checks["batch.horizon"].level is Level.OK


def test_unreachable_s3_fails(settings: Settings) -> None:
    facts = replace(healthy(), s3=S3Facts("b", "http://x", error="S3 head_bucket failed"))
    checks = evaluate(facts, settings, NOW)
    assert by_name(checks)["s3"] == Check(Level.FAIL, "s3", "S3 head_bucket failed")
    assert exit_code(checks) == 1


def test_missing_topic_fails(settings: Settings) -> None:
    facts = with_kafka(healthy(), topic_exists=False, partitions=[])
    checks = by_name(evaluate(facts, settings, NOW))
    assert checks["kafka.topic"].level is Level.FAIL
    assert "does not exist" in checks["kafka.topic"].detail
    assert "kafka.partition.0" not in checks


def test_unreadable_offsets_fail(settings: Settings) -> None:
    facts = with_kafka(healthy(), partitions=[], offsets_error="cannot read offsets: boom")
    checks = by_name(evaluate(facts, settings, NOW))
    assert checks["kafka.topic"] == Check(
        Level.FAIL, "kafka.topic", "tweets: cannot read offsets: boom"
    )


def test_missing_tables_warn_not_set_up(settings: Settings) -> None:
    facts = with_warehouse(healthy(), missing=relations(settings.views))
    checks = evaluate(facts, settings, NOW)
    schema = by_name(checks)["warehouse.schema"]
    assert schema.level is Level.WARN
    assert schema.detail == "pipeline not set up yet (run make batch-once or make demo)"
    assert exit_code(checks) == 0
    assert not any(c.name.startswith(("batch.", "speed.", "rows.")) for c in checks)
    partial = by_name(
        evaluate(with_warehouse(healthy(), missing=("speed_batches",)), settings, NOW)
    )
    assert partial["warehouse.schema"].detail.endswith("missing speed_batches")


# Lag ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("partition", "level", "detail"),
    [
        (PartitionFacts(0, 0, 500, 500), Level.OK, "end 500 committed 500 lag 0"),
        (PartitionFacts(0, 0, 500, 120), Level.OK, "end 500 committed 120 lag 380"),
        (PartitionFacts(0, 0, 0, None), Level.OK, "end 0 committed - lag 0"),
        # A partition emptied by retention, never landed: nothing to land either.
        (PartitionFacts(0, 70, 70, None), Level.OK, "end 70 committed - lag 0"),
        (
            PartitionFacts(0, 0, 1_234, None),
            Level.WARN,
            "end 1,234 committed - lag 1,234: no batch cycle yet",
        ),
        (
            PartitionFacts(0, 300, 500, 100),
            Level.FAIL,
            "end 500 committed 100 lag 400: messages from 100 to 299 expired before the "
            "batch layer landed them",
        ),
        (
            PartitionFacts(0, 0, 10, 50),
            Level.FAIL,
            "end 10 committed 50 lag -40: committed offset is past the end",
        ),
    ],
)
def test_partition_lag(
    settings: Settings, partition: PartitionFacts, level: Level, detail: str
) -> None:
    facts = with_kafka(healthy(), partitions=[partition])
    assert by_name(evaluate(facts, settings, NOW))["kafka.partition.0"] == Check(
        level, "kafka.partition.0", detail
    )


# Horizon ----------------------------------------------------------------------------------


def test_no_horizon_warns_no_batch_cycle_yet(settings: Settings) -> None:
    checks = evaluate(with_warehouse(healthy(), horizon=None), settings, NOW)
    horizon = by_name(checks)["batch.horizon"]
    assert horizon.level is Level.WARN
    assert "no batch cycle yet" in horizon.detail
    assert exit_code(checks) == 0


@pytest.mark.parametrize(
    ("age", "level"),
    [
        (timedelta(0), Level.OK),
        (HORIZON_LIMIT, Level.OK),
        (HORIZON_LIMIT + timedelta(seconds=1), Level.WARN),
        (HORIZON_LIMIT + timedelta(hours=24), Level.WARN),
        (HORIZON_LIMIT + timedelta(hours=24, seconds=1), Level.FAIL),
        (-timedelta(hours=1), Level.WARN),  # in the future: clock skew
    ],
)
def test_horizon_age(settings: Settings, age: timedelta, level: Level) -> None:
    horizon = datetime(2026, 11, 25, 11, 0)
    facts = with_warehouse(healthy(), horizon=horizon)
    assert level_of(facts, settings, "batch.horizon", now=horizon + age) is level


def test_stale_horizon_says_why(settings: Settings) -> None:
    facts = with_warehouse(healthy(), horizon=datetime(2026, 11, 25, 10, 0))
    check = by_name(evaluate(facts, settings, NOW))["batch.horizon"]
    assert check == Check(
        Level.WARN,
        "batch.horizon",
        "2026-11-25 10:00 (2h30m old, limit 1h20m): is the batch layer running? (make batch)",
    )


def test_steady_state_horizon_is_always_ok(settings: Settings) -> None:
    # Cycles every BATCH_INTERVAL, each setting floor_hour(start - lateness): at any
    # moment up to one interval after the last cycle, the horizon is OK.
    start = datetime(2026, 11, 25, 0, 0)
    for minute in range(0, 24 * 60, 5):
        cycle = start + timedelta(minutes=minute)
        point = cycle - timedelta(seconds=settings.allowed_lateness)
        horizon = point.replace(minute=0, second=0, microsecond=0)
        for after in (timedelta(0), timedelta(seconds=settings.batch_interval)):
            facts = with_warehouse(healthy(), horizon=horizon)
            assert level_of(facts, settings, "batch.horizon", now=cycle + after) is Level.OK


# Speed layer ------------------------------------------------------------------------


def speed(facts: Facts, finished_ago: timedelta, newest_message_ago: timedelta | None) -> Facts:
    stamp = None if newest_message_ago is None else NOW - newest_message_ago
    partitions = [replace(p, newest_at=stamp) for p in facts.kafka.partitions]
    facts = with_kafka(facts, partitions=partitions)
    return with_warehouse(facts, last_speed_batch=SpeedBatchFacts(7, NOW - finished_ago, 100))


def test_recent_micro_batch_is_ok(settings: Settings) -> None:
    facts = speed(healthy(), timedelta(seconds=119), timedelta(seconds=1))
    check = by_name(evaluate(facts, settings, NOW))["speed.last-batch"]
    assert check == Check(
        Level.OK, "speed.last-batch", "batch 7 finished 1m59s ago (100 input rows)"
    )


def test_stale_speed_layer_with_waiting_events_warns(settings: Settings) -> None:
    facts = speed(healthy(), timedelta(minutes=10), timedelta(seconds=5))
    checks = evaluate(facts, settings, NOW)
    check = by_name(checks)["speed.last-batch"]
    assert check.level is Level.WARN
    assert "is make speed running?" in check.detail
    assert exit_code(checks) == 0


def test_stale_speed_layer_on_an_idle_topic_is_ok(settings: Settings) -> None:
    # Spark runs no micro-batch without new messages: an old last batch is fine when
    # nothing newer was produced.
    facts = speed(healthy(), timedelta(hours=3), timedelta(hours=3, seconds=2))
    check = by_name(evaluate(facts, settings, NOW))["speed.last-batch"]
    assert check.level is Level.OK
    assert "idle" in check.detail
    empty = speed(healthy(), timedelta(hours=3), None)
    assert level_of(empty, settings, "speed.last-batch") is Level.OK


def test_speed_layer_down_for_a_day_fails(settings: Settings) -> None:
    facts = speed(healthy(), timedelta(days=1, seconds=1), timedelta(seconds=5))
    checks = evaluate(facts, settings, NOW)
    assert by_name(checks)["speed.last-batch"].level is Level.FAIL
    assert exit_code(checks) == 1


def test_stale_speed_layer_without_kafka_facts_warns(settings: Settings) -> None:
    facts = speed(healthy(), timedelta(days=3), None)
    facts = replace(facts, kafka=KafkaFacts("k:9092", "tweets", error="down"))
    check = by_name(evaluate(facts, settings, NOW))["speed.last-batch"]
    assert check.level is Level.WARN
    assert "cannot tell idle from stopped" in check.detail


def test_no_micro_batch_yet_warns(settings: Settings) -> None:
    facts = with_warehouse(healthy(), last_speed_batch=None, max_event_time=None)
    checks = by_name(evaluate(facts, settings, NOW))
    assert checks["speed.last-batch"].level is Level.WARN
    assert "no micro-batch yet" in checks["speed.last-batch"].detail
    assert checks["speed.freshness"] == Check(
        Level.OK, "speed.freshness", "no event seen by the speed layer yet"
    )


def test_speed_freshness_limit_follows_the_trigger() -> None:
    assert speed_fresh_limit(load_settings(speed_trigger="1s")) == timedelta(minutes=2)
    assert speed_fresh_limit(load_settings(speed_trigger="30s")) == timedelta(minutes=5)
    slow = load_settings(speed_trigger="30s")
    facts = speed(healthy(), timedelta(minutes=4), timedelta(seconds=1))
    assert level_of(facts, slow, "speed.last-batch") is Level.OK


def test_events_ahead_of_the_clock_read_in(settings: Settings) -> None:
    facts = with_warehouse(healthy(), max_event_time=NOW + timedelta(minutes=5))
    detail = by_name(evaluate(facts, settings, NOW))["speed.freshness"].detail
    assert detail == "newest event 2026-11-25 12:35:00 (in 5m)"


# Serving view, rejects ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "detail"),
    [
        ("locations", "2 (hour, location) groups served more than once by serving_view"),
        ("hashtags", "2 (hour, hashtag) groups served more than once by serving_hashtags"),
        ("languages", "2 (hour, lang) groups served more than once by serving_languages"),
    ],
)
def test_duplicates_in_a_serving_view_fail(settings: Settings, view: str, detail: str) -> None:
    views = tuple(view_facts(v, duplicates=2 if v.name == view else 0) for v in load_views())
    checks = evaluate(with_warehouse(healthy(), views=views), settings, NOW)
    name = f"serving.integrity.{view}"
    assert by_name(checks)[name] == Check(Level.FAIL, name, detail)
    assert [c.name for c in checks if c.level is not Level.OK] == [name]
    assert exit_code(checks) == 1


def test_every_view_has_its_lines_with_its_own_names_and_keys(settings: Settings) -> None:
    # A view of one's own (VIEWS_DIR): named from its definition, two keys.
    mine = View(
        "lang_places",
        (Key("lang", "varchar(140)"), Key("location", "varchar(800)")),
        "tweets",
        "SELECT 1",
        "b_lp",
        "s_lp",
        "v_lp",
        "mine.sql",
    )
    views = (ViewFacts(mine, 3, 1, 4, 1_234_567, duplicates=1),)
    checks = evaluate(with_warehouse(healthy(), views=views), settings, NOW)
    names = [c.name for c in checks]
    assert names[names.index("rows.raw_hashtags") + 1 :] == [
        "rows.b_lp",
        "rows.s_lp",
        "rows.v_lp",
        "serving.integrity.lang_places",
    ]
    got = by_name(checks)
    assert got["rows.v_lp"].detail == "4 rows, 1,234,567 tweets"
    assert got["serving.integrity.lang_places"].detail == (
        "1 (hour, lang, location) groups served more than once by v_lp"
    )


def test_the_relations_status_reads_are_the_tables_then_every_views_three() -> None:
    views = load_views()
    got = relations(views)
    assert got[: len(TABLES)] == TABLES
    assert got[len(TABLES) :] == (
        "batch_view",
        "speed_view",
        "serving_view",
        "batch_hashtags",
        "speed_hashtags",
        "serving_hashtags",
        "batch_languages",
        "speed_languages",
        "serving_languages",
    )
    assert "raw_hashtags" in got and len(set(got)) == len(got)


@pytest.mark.parametrize(
    ("events", "rejects", "level", "detail"),
    [
        (0, 0, Level.OK, "none (no messages read yet)"),
        (95, 5, Level.OK, "5 of 100 messages (5.0%)"),
        (94, 6, Level.WARN, "6 of 100 messages (6.0%): over 5%, is a producer sending bad events?"),
        (0, 3, Level.WARN, "3 of 3 messages (100.0%): over 5%, is a producer sending bad events?"),
    ],
)
def test_batch_rejects_ratio(
    settings: Settings, events: int, rejects: int, level: Level, detail: str
) -> None:
    facts = with_warehouse(healthy(), ledger_events=events, ledger_rejects=rejects)
    assert by_name(evaluate(facts, settings, NOW))["batch.rejects"] == Check(
        level, "batch.rejects", detail
    )


def test_speed_rejects_ratio(settings: Settings) -> None:
    ok = with_warehouse(healthy(), speed_input_day=1_000, speed_rejects_day=50)
    assert by_name(evaluate(ok, settings, NOW))["speed.rejects"] == Check(
        Level.OK, "speed.rejects", "50 of 1,000 messages in the last day (5.0%)"
    )
    bad = with_warehouse(healthy(), speed_input_day=1_000, speed_rejects_day=51)
    assert level_of(bad, settings, "speed.rejects") is Level.WARN


# The topic's incarnation -------------------------------------------------------------


def test_a_re_created_topic_fails_until_batch_reset(settings: Settings) -> None:
    other = "0b7c2a51-1d2e-4f3a-8b9c-0d1e2f3a4b5c"
    checks = evaluate(with_kafka(healthy(), topic_id=other), settings, NOW)
    assert by_name(checks)["kafka.topic_id"] == Check(
        Level.FAIL,
        "kafka.topic_id",
        f"topic tweets was deleted and re-created (Kafka's id {other}, the batch layer read "
        f"{TOPIC_ID}): the batch layer stops until make batch-reset",
    )
    assert exit_code(checks) == 1
    # Reported with the topic's lines, before its partitions.
    names = [c.name for c in checks]
    assert names.index("kafka.topic") + 1 == names.index("kafka.topic_id")
    assert names.index("kafka.topic_id") + 1 == names.index("kafka.partition.0")


def test_the_newest_generation_is_the_one_compared(settings: Settings) -> None:
    reset = IncarnationFacts(1, TOPIC_ID, datetime(2026, 11, 24, 9, 0))
    check = by_name(evaluate(with_warehouse(healthy(), incarnation=reset), settings, NOW))
    assert check["kafka.topic_id"] == Check(
        Level.OK,
        "kafka.topic_id",
        f"tweets is the incarnation the batch layer reads (id {TOPIC_ID}, generation 1)",
    )


def test_a_topic_the_batch_layer_has_not_registered_has_no_id_line(settings: Settings) -> None:
    checks = by_name(evaluate(with_warehouse(healthy(), incarnation=None), settings, NOW))
    assert "kafka.topic_id" not in checks
    assert checks["kafka.topic"].level is Level.OK


def test_a_broker_without_topic_ids_cannot_tell(settings: Settings) -> None:
    check = by_name(evaluate(with_kafka(healthy(), topic_id=None), settings, NOW))
    assert check["kafka.topic_id"] == Check(
        Level.OK,
        "kafka.topic_id",
        "Kafka reports no topic id (a broker before 2.8): cannot tell whether tweets was "
        "re-created; the batch layer reads generation 0",
    )


@pytest.mark.parametrize(
    "warehouse",
    [
        WarehouseFacts("postgresql://...", "postgres", error="down"),
        WarehouseFacts("postgresql://...", "postgres", missing=("batch_topics",)),
    ],
)
def test_no_id_line_without_the_warehouses_records(
    settings: Settings, warehouse: WarehouseFacts
) -> None:
    registered = replace(warehouse, incarnation=IncarnationFacts(0, "other", NOW))
    facts = replace(healthy(), warehouse=registered)
    assert "kafka.topic_id" not in by_name(evaluate(facts, settings, NOW))


def test_the_id_is_compared_even_when_offsets_are_unreadable(settings: Settings) -> None:
    facts = with_kafka(healthy(), partitions=[], offsets_error="boom", topic_id="other")
    checks = by_name(evaluate(facts, settings, NOW))
    assert checks["kafka.topic_id"].level is Level.FAIL
    assert not any(name.startswith("batch.partition.") for name in checks)


# Offset losses ---------------------------------------------------------------------------


def loss(partition: int, first: int, last: int, generation: int = 0) -> LossFacts:
    return LossFacts("tweets", generation, partition, first, last, datetime(2026, 11, 25, 9, 7))


def test_no_loss_is_ok_and_acknowledged_ones_are_counted(settings: Settings) -> None:
    facts = with_warehouse(healthy(), losses_acknowledged=2)
    checks = evaluate(facts, settings, NOW)
    assert by_name(checks)["batch.lost"] == Check(
        Level.OK, "batch.lost", "no unacknowledged offset loss (2 acknowledged)"
    )
    assert exit_code(checks) == 0


def test_each_unacknowledged_loss_fails_on_a_line_of_its_own(settings: Settings) -> None:
    losses = (loss(2, 120, 499), loss(2, 900, 949), loss(0, 0, 9, generation=1))
    facts = with_warehouse(healthy(), losses_open=3, losses=losses, losses_acknowledged=1)
    checks = evaluate(facts, settings, NOW)
    lost = [c for c in checks if c.name.startswith("batch.lost")]
    assert lost == [
        Check(
            Level.FAIL,
            "batch.lost.2.120",
            "messages 120..499 of tweets/2 expired before the batch layer landed them "
            "(detected 2026-11-25 09:07); acknowledge with make batch-ack-loss",
        ),
        Check(
            Level.FAIL,
            "batch.lost.2.900",
            "messages 900..949 of tweets/2 expired before the batch layer landed them "
            "(detected 2026-11-25 09:07); acknowledge with make batch-ack-loss",
        ),
        Check(
            Level.FAIL,
            "batch.lost.0.0.gen1",
            "messages 0..9 of tweets/0 (generation 1) expired before the batch layer landed "
            "them (detected 2026-11-25 09:07); acknowledge with make batch-ack-loss",
        ),
    ]
    assert exit_code(checks) == 1
    names = [c.name for c in checks]
    assert names.index("batch.horizon") + 1 == names.index("batch.lost.2.120")


def test_a_long_list_of_losses_is_cut_short(settings: Settings) -> None:
    losses = tuple(loss(0, 100 * i, 100 * i + 9) for i in range(10))
    facts = with_warehouse(healthy(), losses_open=13, losses=losses)
    lost = [c for c in evaluate(facts, settings, NOW) if c.name.startswith("batch.lost")]
    assert len(lost) == 11
    assert all(c.level is Level.FAIL for c in lost)
    assert lost[-1] == Check(
        Level.FAIL,
        "batch.lost.more",
        "3 more unacknowledged offset losses (all of them are in the table lost_offsets); "
        "acknowledge with make batch-ack-loss",
    )


# Partitions no batch process takes -----------------------------------------------------


def test_a_partition_without_a_watermark_holds_the_horizon(settings: Settings) -> None:
    partitions = [*healthy().kafka.partitions, PartitionFacts(3, 0, 40, None)]
    facts = with_kafka(healthy(), partitions=partitions)
    checks = evaluate(facts, settings, NOW)
    assert by_name(checks)["batch.partition.3"] == Check(
        Level.FAIL,
        "batch.partition.3",
        "partition 3 has never been landed by a batch process: no batch process takes it "
        "(PARTITIONS=...), so the horizon is held at 2026-11-25 12:00; give it an owner "
        "(docs/scaling.md: Scaling out the batch layer)",
    )
    assert [c.name for c in checks if c.name.startswith("batch.partition.")] == [
        "batch.partition.3"
    ]
    assert exit_code(checks) == 1
    names = [c.name for c in checks]
    assert names.index("batch.horizon") + 1 == names.index("batch.partition.3")


def test_without_a_horizon_the_partition_line_says_none_is_published(
    settings: Settings,
) -> None:
    # PARTITIONS=0,1 from the start on a 3-partition topic: no horizon ever.
    facts = with_warehouse(healthy(), horizon=None, watermarked=frozenset({0, 1}))
    check = by_name(evaluate(facts, settings, NOW))["batch.partition.2"]
    assert check.level is Level.FAIL
    assert ", so no horizon is published; give it an owner" in check.detail


@pytest.mark.parametrize(
    "facts",
    [
        # No batch cycle has run yet: batch.horizon says so.
        with_warehouse(healthy(), horizon=None, watermarked=frozenset()),
        # Kafka's partitions are unknown.
        replace(
            with_warehouse(healthy(), watermarked=frozenset({0})),
            kafka=KafkaFacts("k:9092", "tweets", error="down"),
        ),
        with_kafka(
            with_warehouse(healthy(), watermarked=frozenset({0})),
            partitions=[],
            offsets_error="boom",
        ),
    ],
)
def test_partition_owners_are_judged_only_when_both_sides_are_known(
    settings: Settings, facts: Facts
) -> None:
    checks = evaluate(facts, settings, NOW)
    assert not any(c.name.startswith("batch.partition.") for c in checks)


# Output -----------------------------------------------------------------------------------


def test_table_is_aligned_with_a_summary_line() -> None:
    checks = [
        Check(Level.OK, "kafka.partition.0", "end 12,345 committed 12,000 lag 345"),
        Check(Level.WARN, "batch.horizon", "no batch cycle yet"),
        Check(Level.FAIL, "s3", "down"),
    ]
    assert render_table(checks) == (
        "OK    kafka.partition.0  end 12,345 committed 12,000 lag 345\n"
        "WARN  batch.horizon      no batch cycle yet\n"
        "FAIL  s3                 down\n"
        "status: 1 OK, 1 WARN, 1 FAIL\n"
    )
    assert exit_code(checks) == 1
    assert worst(checks) is Level.FAIL


def test_summary_counts_and_exit_codes() -> None:
    assert summary([]) == "status: 0 OK, 0 WARN, 0 FAIL"
    warn = [Check(Level.OK, "a", ""), Check(Level.WARN, "b", "")]
    assert summary(warn) == "status: 1 OK, 1 WARN, 0 FAIL"
    assert exit_code(warn) == 0
    assert worst(warn) is Level.WARN
    assert exit_code([]) == 0


def test_json_output(settings: Settings) -> None:
    checks = evaluate(with_warehouse(healthy(), horizon=None), settings, NOW)
    document = json.loads(render_json(checks))
    assert document["status"] == "WARN"
    assert document["counts"] == {"OK": len(checks) - 1, "WARN": 1, "FAIL": 0}
    assert document["checks"][0] == {
        "level": "OK",
        "name": "kafka",
        "detail": "1 broker(s) at localhost:9092",
    }
    assert len(document["checks"]) == len(checks)


# The SQL ----------------------------------------------------------------------------------


def test_the_status_queries_are_sql_files_of_one_statement_each() -> None:
    folder = resources.files("lambda_common.sql") / "common"
    names = sorted(p.name[:-4] for p in folder.iterdir() if p.name.startswith("status_"))
    source = inspect.getsource(status_gather)
    for name in names:
        assert f'"{name}"' in source, f"{name}.sql is not used"
        for dialect in DIALECTS:
            assert len(statements(load_sql(name, dialect))) == 1, (dialect, name)
    # Every statement the gatherer runs comes from a file.
    assert "SELECT " not in source.upper()


# The gatherer, against a scripted connection ----------------------------------------------


# What each status file answers a pipeline with no micro-batch, loss or registered topic;
# a templated file is told by its text before the first placeholder.
_ANSWERS: dict[str, list[tuple[Any, ...]]] = {
    "status_statement_timeout": [],
    "status_relation_probe": [],
    "horizon_get": [(None,)],
    "status_ledger_totals": [(0, 0)],
    "status_speed_last": [],
    "status_speed_newest_event": [(None,)],
    "status_speed_day": [(0, 0)],
    "status_rows": [(5,)],
    "status_topic_newest": [],
    "status_losses_count": [(0, 0)],
    "status_watermarked": [],
    "status_verify_last": [],
}


class _ScriptedCursor(FakeCursor):
    def execute(self, statement: object, params: object = None) -> None:
        super().execute(statement, params)
        text = self.conn.executed[-1][0]
        (serving,) = statements(load_sql("status_serving", "postgres"))
        if text.startswith(serving.split("{")[0]):
            # Rows, tweets, and one duplicated key in serving_hashtags only.
            self.rows = [(7, 9, 1 if '"serving_hashtags"' in text else 0)]
            return
        for name, rows in _ANSWERS.items():
            (raw,) = statements(load_sql(name, "postgres"))
            if text == raw or ("{" in raw and text.startswith(raw.split("{")[0])):
                self.rows = list(rows)
                return
        raise AssertionError(f"unscripted statement: {text}")


class _ScriptedConnection(FakeConnection):
    def cursor(self) -> FakeCursor:
        return _ScriptedCursor(self)

    def close(self) -> None:
        self.closed = True


def test_the_gatherer_reads_every_view_with_quoted_names(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = _ScriptedConnection()

    class Scripted(Warehouse):
        def connection(self) -> Any:
            return conn

    monkeypatch.setattr(status_gather, "Warehouse", Scripted)
    facts = status_gather.gather_warehouse(settings, NOW)
    assert facts.error is None and facts.missing == ()
    # Every relation probed, each name quoted (they come from view definitions).
    probes = [t for t in conn.statements if "LIMIT 0" in t]
    assert [p.split("FROM ")[1].split()[0] for p in probes] == [
        f'"{name}"' for name in relations(settings.views)
    ]
    assert facts.counts == {"raw_tweets": 5, "raw_hashtags": 5}
    assert [f.view.name for f in facts.views] == [v.name for v in settings.views]
    hashtags = next(f for f in facts.views if f.view.name == "hashtags")
    assert hashtags == ViewFacts(a_view("hashtags"), 5, 5, 7, 9, 1)
    # One scan of each serving view, grouped by its quoted key columns.
    served = [t for t in conn.statements if "AS served" in t]
    assert len(served) == len(settings.views)
    assert 'FROM "serving_hashtags"\n    GROUP BY "event_hour", "hashtag"' in served[1]
    checks = by_name(evaluate(replace(healthy(), warehouse=facts), settings, NOW))
    assert checks["serving.integrity.hashtags"].level is Level.FAIL
    assert checks["serving.integrity.languages"].level is Level.OK
