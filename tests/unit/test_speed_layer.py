"""The speed layer's pure parts: the message UDF, the connector's jars, the status line."""

from __future__ import annotations

import calendar
import re
import threading
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from lambda_common.contract import Event
from lambda_common.rows import warehouse_text
from lambda_common.settings import load_settings
from lambda_common.sql import load_sql
from speed_layer.job import _artifact, await_query, connector_jars, failure_message
from speed_layer.parse import PARSED_DDL, Parsed, parse_message
from speed_layer.view import BatchStatus

READ_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
READ_AT_US = calendar.timegm(READ_AT.timetuple()) * 1_000_000


def _value(**changes: object) -> bytes:
    event = Event(
        tweet_id="42",
        created_at=datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC),
        user_id="7",
        followers_count=10,
        favorite_count=2,
        retweet_count=1,
        location=" \tParis\x00 \n",
    )
    for key, value in changes.items():
        object.__setattr__(event, key, value)
    return event.to_json_bytes()


def test_a_valid_event_becomes_integer_times_and_the_warehouse_location() -> None:
    parsed = parse_message(_value(), READ_AT_US)
    assert parsed.reject is None
    assert parsed.tweet_id == "42"
    hour = datetime(2026, 11, 21, 10, tzinfo=UTC)
    assert parsed.event_hour_s == calendar.timegm(hour.timetuple())
    assert parsed.created_at_us == (calendar.timegm(hour.timetuple()) + 15 * 60 + 30) * 10**6 + (
        123000
    )
    # Trimmed of ASCII whitespace only, NUL as the warehouse stores it: as batch_view has it.
    assert parsed.location == warehouse_text("Paris\x00") == "Paris\ufffd"
    assert (parsed.followers_count, parsed.favorite_count, parsed.retweet_count) == (10, 2, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "null"),
        (b"", "empty"),
        (b"{nope", "JSON"),
        (b"\xff", "UTF-8"),
        (b'{"tweet_id": "1"}', "created_at"),
    ],
)
def test_a_bad_message_is_a_reject_with_its_reason_and_nothing_else(
    value: bytes | None, reason: str
) -> None:
    parsed = parse_message(value, READ_AT_US)
    assert parsed.reject is not None and reason in parsed.reject
    assert parsed[:-1] == (None,) * (len(Parsed._fields) - 1)


def test_a_user_id_over_256_characters_is_a_reject_with_the_contracts_reason() -> None:
    assert parse_message(_value(user_id="😀" * 256), READ_AT_US).reject is None
    parsed = parse_message(_value(user_id="😀" * 257), READ_AT_US)
    assert parsed == Parsed(*(None,) * 7, "field 'user_id' must be 1 to 256 characters")
    assert parse_message(_value(user_id=""), READ_AT_US).reject == parsed.reject


def test_the_largest_counts_pass_through_unchanged() -> None:
    top = 2**63 - 1
    parsed = parse_message(
        _value(followers_count=top, favorite_count=top, retweet_count=top), READ_AT_US
    )
    assert (parsed.followers_count, parsed.favorite_count, parsed.retweet_count) == (top,) * 3


def test_a_checkpoint_of_an_older_aggregation_fails_saying_what_to_do() -> None:
    spark_error = (
        "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
        "[STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE] Provided value schema does not match "
        "existing state value schema.\n\tat org.apache.spark.sql...\n"
    )
    message = failure_message(spark_error, "/data/ck")
    assert "\n" not in message
    assert message.startswith("speed layer query failed: [STREAM_FAILED]")
    assert "SPEED_CHECKPOINT /data/ck holds the state of an older aggregation" in message
    other = failure_message("[KAFKA] broker gone\nstack", "/data/ck")
    assert other == "speed layer query failed: [KAFKA] broker gone"


def test_far_future_is_judged_against_the_micro_batch_clock_not_the_wall_clock() -> None:
    soon = _value(created_at=READ_AT + timedelta(minutes=59))
    late = _value(created_at=READ_AT + timedelta(minutes=61))
    assert parse_message(soon, READ_AT_US).reject is None
    assert "future" in (parse_message(late, READ_AT_US).reject or "")
    # Replaying the micro-batch (same recorded clock) gives the same verdicts.
    assert parse_message(late, READ_AT_US) == parse_message(late, READ_AT_US)


def test_the_udf_type_lists_the_parsed_fields_in_order() -> None:
    names = [part.strip().split(" ")[0] for part in PARSED_DDL.split(",")]
    assert names == list(Parsed._fields)


def test_the_aggregation_is_the_one_file_both_layers_render() -> None:
    text = load_sql("aggregate", "postgres")
    assert text == load_sql("aggregate", "redshift")
    assert "{source}" in text and "{where}" in text


@pytest.mark.parametrize(
    ("jar", "artifact"),
    [
        ("kafka-clients-3.9.0.jar", "kafka-clients"),
        ("spark-sql-kafka-0-10_2.13-4.0.0.jar", "spark-sql-kafka-0-10_2.13"),
        ("commons-pool2-2.12.0.jar", "commons-pool2"),
        ("scala-library-2.13.15.jar", "scala-library"),
    ],
)
def test_jar_names_reduce_to_their_artifact(jar: str, artifact: str) -> None:
    assert _artifact(jar) == artifact


def test_connector_jars_leave_out_what_pyspark_ships(tmp_path: Path) -> None:
    folder = tmp_path / "jars"
    folder.mkdir()
    for name in ("kafka-clients-3.9.0.jar", "scala-library-2.13.15.jar"):
        (folder / name).write_bytes(b"")
    settings = load_settings(spark_kafka_jars=str(folder))
    assert [p.name for p in connector_jars(settings)] == ["kafka-clients-3.9.0.jar"]


def test_a_missing_jar_folder_setting_fails_naming_it(tmp_path: Path) -> None:
    settings = load_settings(spark_kafka_jars=str(tmp_path / "absent"))
    with pytest.raises(Exception, match="SPARK_KAFKA_JARS"):
        connector_jars(settings)


def test_the_connector_pom_matches_the_installed_pyspark() -> None:
    import pyspark

    pom = (resources.files("local_stack") / "poms" / "spark-kafka.xml").read_text()
    match = re.search(r"<spark.version>([^<]+)</spark.version>", pom)
    assert match is not None
    assert match.group(1) == pyspark.__version__


def test_retention_shorter_than_the_speed_views_reach_is_refused() -> None:
    from lambda_common.errors import ConfigError

    with pytest.raises(ConfigError, match="SPEED_RETENTION"):
        load_settings(speed_retention="1h")
    assert load_settings(speed_retention="3h").speed_retention == 3 * 3600


def test_the_status_line_names_every_number() -> None:
    status = BatchStatus(
        batch_id=7,
        input_rows=2000,
        rejects=3,
        rows_written=41,
        duration_ms=850,
        max_event_time=datetime(2026, 11, 21, 10, 0, 1),
        finished_at=datetime(2026, 11, 21, 10, 0, 2),
    )
    assert status.line() == (
        "speed batch 7: 2,000 input rows, 3 rejects, 41 view rows written, 0.85s, "
        "max event time 2026-11-21 10:00:01"
    )


def test_qualified_versions_are_dropped_too() -> None:
    assert _artifact("guava-33.3.1-jre.jar") == "guava"
    assert _artifact("netty-4.1.118.Final.jar") == "netty"


class _FailingQuery:
    """A streaming query that fails on its second wait, as Spark's does: awaitTermination
    raises the query's error."""

    def __init__(self) -> None:
        self.waits = 0

    @property
    def isActive(self) -> bool:
        return True

    def awaitTermination(self, timeout: float) -> None:
        self.waits += 1
        if self.waits == 2:
            raise RuntimeError("[STREAM_FAILED] ... [STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE]")


def test_a_failing_query_ends_the_wait_with_its_error_not_an_exception() -> None:
    query = _FailingQuery()
    error = await_query(query, threading.Event())
    assert isinstance(error, RuntimeError) and query.waits == 2
    assert "older aggregation" in failure_message(str(error), "ck")
    stopped = threading.Event()
    stopped.set()
    assert await_query(_FailingQuery(), stopped) is None
