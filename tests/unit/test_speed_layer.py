"""The speed layer's pure parts: the message UDF, the connector's jars, the status line,
and, without Spark, how it outlives outages: a micro-batch waiting out the warehouse,
a failed query started again from its checkpoint unless the failure would come back."""

from __future__ import annotations

import calendar
import re
import threading
import types
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lambda_common.contract import Event
from lambda_common.contract.rows import warehouse_text
from lambda_common.errors import ServiceUnavailable, TransientError
from lambda_common.retry import Backoff
from lambda_common.settings import load_settings
from speed_layer import sink
from speed_layer.classpath import artifact, connector_folder
from speed_layer.job import (
    QUERY_BACKOFF,
    await_query,
    failure_message,
    restart_delay,
    supervise,
)
from speed_layer.parse import (
    INPUT_COLUMNS,
    PARSED_BATCH_DDL,
    PARSED_DDL,
    Parsed,
    parse_batches,
    parse_message,
)
from speed_layer.session import spark_classpath
from speed_layer.sink import SpeedSink
from speed_layer.stream import SpeedError
from speed_layer.view import FENCED, BatchStatus, SpeedFenced, fence

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
    assert parsed == Parsed(
        *(None,) * (len(Parsed._fields) - 1), "field 'user_id' must be 1 to 256 characters"
    )
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


def test_the_parsed_type_lists_the_parsed_fields_in_order() -> None:
    names = [part.strip().split(" ")[0] for part in PARSED_DDL.split(",")]
    assert names == list(Parsed._fields)


def test_a_valid_message_carries_every_views_keys_normalised() -> None:
    parsed = parse_message(
        _value(lang="  EN-gb ", hashtags=["#Python", " python", "Spark\x00", "#", " "]),
        READ_AT_US,
    )
    assert parsed.lang == "en-gb"
    assert parsed.hashtags == ["python", "spark\ufffd"]
    assert parse_message(_value(), READ_AT_US).lang == "(unknown)"


def test_a_micro_batch_is_applied_once_per_query_and_a_new_query_takes_over() -> None:
    assert fence(None, "q1", 0) == "take over"
    assert fence(("q1", 4), "q1", 5) == "apply"
    assert fence(("q1", 4), "q1", 4) == "skip"  # replayed after a crash past the commit
    assert fence(("q1", 4), "q1", 2) == "skip"
    assert fence(("q1", 4), "q2", 0) == "take over"  # a fresh checkpoint
    with pytest.raises(SpeedFenced, match="another speed job \\(query q2\\)"):
        fence(("q2", 0), "q1", 5)
    with pytest.raises(SpeedFenced, match="move SPEED_CHECKPOINT aside"):
        fence(None, "q1", 5)
    assert restart_delay(f"SpeedFenced: {FENCED}: another", 1) is None


@pytest.mark.parametrize(
    ("jar", "name"),
    [
        ("kafka-clients-3.9.0.jar", "kafka-clients"),
        ("spark-sql-kafka-0-10_2.13-4.0.0.jar", "spark-sql-kafka-0-10_2.13"),
        ("spark-sql-kafka-0-10_2.12-3.5.7.jar", "spark-sql-kafka-0-10_2.12"),
        ("commons-pool2-2.12.0.jar", "commons-pool2"),
        ("scala-library-2.13.15.jar", "scala-library"),
        ("aws-msk-iam-auth-2.4.0.jar", "aws-msk-iam-auth"),
    ],
)
def test_jar_names_reduce_to_their_artifact(jar: str, name: str) -> None:
    assert artifact(jar) == name


def test_connector_jars_leave_out_what_pyspark_ships(tmp_path: Path) -> None:
    folder = tmp_path / "jars"
    folder.mkdir()
    for name in ("kafka-clients-3.9.0.jar", "scala-library-2.13.15.jar"):
        (folder / name).write_bytes(b"")
    settings = load_settings(spark_kafka_jars=str(folder))
    classpath = spark_classpath(settings)
    assert [p.name for p in classpath.jars] == ["kafka-clients-3.9.0.jar"]
    assert classpath.packages == ()


def test_a_missing_jar_folder_setting_fails_naming_it(tmp_path: Path) -> None:
    settings = load_settings(spark_kafka_jars=str(tmp_path / "absent"))
    with pytest.raises(Exception, match="SPARK_KAFKA_JARS"):
        spark_classpath(settings)


def test_the_connector_pom_matches_the_installed_pyspark() -> None:
    """The POM of the folder the job reads for this pyspark (spark-kafka for Spark 4,
    spark-kafka-3.5 in make venv-spark35's) resolves exactly this version."""
    import pyspark

    name = connector_folder(load_settings(), pyspark.__version__).name
    pom = (resources.files("local_stack") / "poms" / f"{name}.xml").read_text()
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
    assert artifact("guava-33.3.1-jre.jar") == "guava"
    assert artifact("netty-4.1.118.Final.jar") == "netty"


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


# -- outages: the sink waits, the query restarts ------------------------------------------

KAFKA_DOWN = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: Timed out "
    "waiting for a node assignment. Call: describeTopics\n\tat org.apache.kafka..."
)
STATE_CHANGED = (
    "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
    "[STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE] Provided value schema does not match."
)


@pytest.mark.parametrize(
    "error",
    [
        KAFKA_DOWN,
        "org.apache.kafka.common.errors.TimeoutException: Timeout of 60000ms expired",
        "[FOREACH_BATCH_USER_FUNCTION_ERROR] An error occurred in the user provided function",
        "Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times: "
        "java.util.concurrent.TimeoutException: Cannot fetch record for offset 42",
    ],
)
def test_an_outage_restarts_the_query_after_a_growing_back_off(error: str) -> None:
    rule = Backoff(first_s=5.0, cap_s=60.0)
    assert [restart_delay(error, n, rule) for n in (1, 2, 3, 4, 5, 9)] == [5, 10, 20, 40, 60, 60]
    assert 4.0 <= (restart_delay(error, 1) or 0) <= 5.0  # the default rule, with jitter


@pytest.mark.parametrize(
    "error",
    [
        STATE_CHANGED,
        "[STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE] Provided key schema does not match",
        "[KAFKA_DATA_LOSS.START_OFFSET_RESET] Some data may have been lost",
        "[CONCURRENT_QUERY] Another instance of this query was just started",
        "pyspark.errors.exceptions.captured.AnalysisException: [UNRESOLVED_COLUMN] x",
        "Cannot call methods on a stopped SparkContext.",
        "py4j.protocol.Py4JNetworkError: Answer from Java side is empty",
    ],
)
def test_a_failure_a_restart_would_meet_again_ends_the_job(error: str) -> None:
    assert restart_delay(error, 1) is None


class _Query:
    """A streaming query that fails with ``error`` on its ``fail_on``-th wait (never if
    None), or runs until stopped; ``on_wait`` is called at each wait (a test's clock)."""

    def __init__(
        self,
        error: str | None,
        fail_on: int = 1,
        on_wait: Callable[[], None] | None = None,
    ) -> None:
        self.error = RuntimeError(error) if error else None
        self.fail_on = fail_on
        self.on_wait = on_wait
        self.waits = 0
        self.active = True
        self.stopped = False

    @property
    def isActive(self) -> bool:
        return self.active

    def awaitTermination(self, timeout: float) -> None:
        self.waits += 1
        if self.on_wait is not None:
            self.on_wait()
        if self.error is not None and self.waits >= self.fail_on:
            self.active = False
            raise self.error

    def stop(self) -> None:
        self.stopped, self.active = True, False

    def exception(self) -> Any:
        return self.error


class _Starts:
    """``start_query`` for ``supervise``: hands out the planned queries in order."""

    def __init__(self, *queries: _Query) -> None:
        self.queries = list(queries)
        self.started: list[_Query] = []

    def __call__(self) -> _Query:
        query = self.queries[len(self.started)]
        self.started.append(query)
        return query


def _sink() -> SpeedSink:
    return SpeedSink(load_settings())


NO_JITTER = Backoff(first_s=5.0, cap_s=60.0)


def test_a_query_failing_for_an_outage_is_started_again_from_its_checkpoint() -> None:
    stop = threading.Event()
    healthy = _Query(None, on_wait=lambda: stop.set())  # runs until the job is stopped
    starts = _Starts(_Query(KAFKA_DOWN), _Query(KAFKA_DOWN), healthy)
    slept: list[float] = []
    supervise(starts, _sink(), stop, "/ck", backoff=NO_JITTER, sleep=slept.append)
    assert len(starts.started) == 3 and slept == [5.0, 10.0]
    assert healthy.stopped  # stopped by the job, not failed


def test_a_query_that_made_progress_starts_the_back_off_again() -> None:
    stop = threading.Event()
    sink = _sink()

    def a_batch_written() -> None:
        sink.completed += 1

    starts = _Starts(
        _Query(KAFKA_DOWN),
        _Query(KAFKA_DOWN),
        _Query(KAFKA_DOWN, fail_on=2, on_wait=a_batch_written),  # wrote, then failed
        _Query(KAFKA_DOWN),
        _Query(None, on_wait=lambda: stop.set()),
    )
    slept: list[float] = []
    supervise(starts, sink, stop, "/ck", backoff=NO_JITTER, sleep=slept.append)
    assert slept == [5.0, 10.0, 5.0, 10.0]


def test_a_checkpoint_of_another_shape_still_ends_the_job_with_its_one_line() -> None:
    starts = _Starts(_Query(STATE_CHANGED))
    slept: list[float] = []
    with pytest.raises(SpeedError) as info:
        supervise(starts, _sink(), threading.Event(), "/data/ck", sleep=slept.append)
    assert len(starts.started) == 1 and slept == []
    assert str(info.value) == failure_message(STATE_CHANGED, "/data/ck")
    assert "SPEED_CHECKPOINT /data/ck holds the state of an older aggregation" in str(info.value)


def test_a_query_that_cannot_even_start_is_judged_like_a_failed_one() -> None:
    stop = threading.Event()
    calls: list[int] = []

    def start() -> _Query:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("java.io.IOException: s3a://ck: connection refused")
        return _Query(None, on_wait=lambda: stop.set())

    slept: list[float] = []
    supervise(start, _sink(), stop, "s3a://ck", backoff=NO_JITTER, sleep=slept.append)
    assert (len(calls), slept) == (2, [5.0])

    def jvm_gone() -> _Query:
        raise RuntimeError("Cannot call methods on a stopped SparkContext")

    with pytest.raises(SpeedError, match="stopped SparkContext"):
        supervise(jvm_gone, _sink(), threading.Event(), "/ck")


class AnalysisException(Exception):
    """Named as pyspark's is; its str() is only the message, as pyspark's is."""


def test_a_query_whose_plan_is_refused_at_start_ends_the_job() -> None:
    def refused() -> _Query:
        raise AnalysisException("[DATATYPE_MISMATCH.BINARY_OP_DIFF_TYPES] Cannot resolve")

    slept: list[float] = []
    with pytest.raises(SpeedError, match=r"query failed: \[DATATYPE_MISMATCH"):
        supervise(refused, _sink(), threading.Event(), "/ck", sleep=slept.append)
    assert slept == []


def test_a_stop_during_the_restart_back_off_ends_the_job_without_a_restart() -> None:
    stop = threading.Event()
    starts = _Starts(_Query(KAFKA_DOWN), _Query(None))
    supervise(starts, _sink(), stop, "/ck", sleep=lambda s: stop.set())
    assert len(starts.started) == 1


def test_a_failure_after_the_stop_request_is_no_error() -> None:
    stop = threading.Event()
    starts = _Starts(_Query(STATE_CHANGED, on_wait=lambda: stop.set()))
    supervise(starts, _sink(), stop, "/ck")  # e.g. the sink's retry cut short by the stop
    assert len(starts.started) == 1


class _Frame:
    """What foreachBatch hands the sink (its events come from ``collect_events``,
    patched)."""

    def persist(self) -> None:
        pass

    def unpersist(self) -> None:
        pass


ROW = (datetime(2027, 1, 15, 8, 0), "Oslo", 2, 10, 1, 0)


@pytest.fixture(autouse=True)
def _one_row_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    # The micro-batch as the fake view below reads it (the real one takes StagedEvents).
    monkeypatch.setattr(sink, "collect_events", lambda frame: {"locations": [ROW]})


def _session() -> Any:
    query = types.SimpleNamespace(name=sink.QUERY_NAME, id="q-1")
    return types.SimpleNamespace(streams=types.SimpleNamespace(active=[query]))


class _View:
    """speed_view's writer, down for the first ``down`` writes."""

    def __init__(self, down: int, error: Exception | None = None) -> None:
        self.down = down
        self.error = error or ServiceUnavailable("warehouse at x is unreachable: refused")
        self.writes: list[list[Any]] = []
        self.views = load_settings().views

    def apply(
        self, query_id: str, batch_id: int, rows: dict[str, list[Any]], statuses: Any = ()
    ) -> tuple[int, None]:
        self.writes.append(rows["locations"])
        if len(self.writes) <= self.down:
            raise self.error
        return len(rows["locations"]), None


class _RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded (the sink's sleep)."""

    def __init__(self, set_after: int | None = None) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.set_after = set_after

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if self.set_after is not None and len(self.waits) >= self.set_after:
            self.set()
        return self.is_set()


def test_a_micro_batch_waits_out_a_warehouse_outage_however_long() -> None:
    stop = _RecordingStop()
    sink = SpeedSink(load_settings(), stop=stop, backoff=Backoff(first_s=1.0, cap_s=30.0))
    sink.view = _View(down=8)  # type: ignore[assignment]
    sink.session = _session()
    sink(_Frame(), 7)
    assert stop.waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert (sink.written, sink.completed) == ({7: 1}, 1)
    (hour, location, *sums) = sink.view.writes[-1][0]  # type: ignore[attr-defined]
    assert (hour, location, sums) == (datetime(2027, 1, 15, 8, 0), "Oslo", [2, 10, 1, 0])


def test_a_concurrent_transaction_is_retried_the_same_way() -> None:
    stop = _RecordingStop()
    sink = SpeedSink(load_settings(), stop=stop)
    sink.view = _View(down=2, error=TransientError("1023 Serializable isolation"))  # type: ignore[assignment]
    sink.session = _session()
    sink(_Frame(), 8)
    assert len(stop.waits) == 2 and sink.completed == 1


def test_a_stop_request_ends_a_micro_batchs_wait_with_its_error() -> None:
    stop = _RecordingStop(set_after=3)
    sink = SpeedSink(load_settings(), stop=stop)
    sink.view = _View(down=1000)  # type: ignore[assignment]
    sink.session = _session()
    with pytest.raises(ServiceUnavailable):
        sink(_Frame(), 9)
    assert len(stop.waits) == 3
    assert (sink.written, sink.completed) == ({}, 0)


def test_the_query_back_off_is_the_shared_rule() -> None:
    assert isinstance(QUERY_BACKOFF, Backoff) and QUERY_BACKOFF.cap_s == 60.0


def _record_batch(values: list[bytes | None], clock: int = READ_AT_US) -> Any:
    import pyarrow as pa

    n = len(values)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(values, pa.binary()),
            pa.array([clock] * n, pa.int64()),
            pa.array([i % 3 for i in range(n)], pa.int32()),
            pa.array(range(100, 100 + n), pa.int64()),
        ],
        names=list(INPUT_COLUMNS),
    )


def test_arrow_batches_parse_row_for_row_as_parse_message() -> None:
    """The mapInArrow path is parse_message on every message, in order, with the place
    passed through: valid events, seeded damage of every kind, a null value, and the
    rejects' reasons byte for byte."""
    import random

    from tests.unit.ingestion_mutations import contract_seeds, mutated_lines, serialise

    rng = random.Random(19)
    values: list[bytes | None] = [serialise(s) for s in contract_seeds()]
    values += [_value(hashtags=["#Python", " python"]), None, b"", b"\xff\xfe"]
    values += mutated_lines(rng, 300)
    first, second = values[:150], values[150:]
    out = list(parse_batches([_record_batch(first), _record_batch([]), _record_batch(second)]))

    assert [b.num_rows for b in out] == [len(first), 0, len(second)]
    assert all(str(b.schema.types) == str(out[0].schema.types) for b in out)
    rows = [row for batch in out for row in batch.to_pylist()]
    expected = [parse_message(v, READ_AT_US)._asdict() for v in values]
    assert [{k: r[k] for k in Parsed._fields} for r in rows] == expected
    places = [(r["partition"], r["offset"]) for r in rows]
    assert places == [(i % 3, 100 + i) for i in range(len(first))] + [
        (i % 3, 100 + i) for i in range(len(second))
    ]
    # The sample exercises both sides of the contract.
    assert sum(r["reject"] is None for r in rows) >= 4
    assert sum(r["reject"] is not None for r in rows) >= 250


def test_the_arrow_output_type_is_the_parsed_fields_then_the_place() -> None:
    (batch,) = parse_batches([_record_batch([_value()])])
    names = [part.strip().split(" ")[0] for part in PARSED_BATCH_DDL.split(",")]
    assert batch.schema.names == names == [*Parsed._fields, "partition", "offset"]


@pytest.mark.parametrize(
    "created_at",
    [
        datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC),
        datetime(2026, 11, 21, 10, 0, tzinfo=UTC),  # on the hour
        datetime(2026, 11, 21, 9, 59, 59, 999000, tzinfo=UTC),
        datetime(2006, 3, 21, 20, 50, 14, 1000, tzinfo=UTC),  # the first tweet's year
        datetime(1969, 12, 31, 23, 30, 0, 5000, tzinfo=UTC),  # before the epoch: floors
    ],
)
def test_times_are_exact_epoch_integers(created_at: datetime) -> None:
    parsed = parse_message(_value(created_at=created_at), READ_AT_US)
    assert parsed.reject is None
    hour = created_at.replace(minute=0, second=0, microsecond=0)
    assert parsed.event_hour_s == calendar.timegm(hour.timetuple())
    assert parsed.created_at_us == (
        calendar.timegm(created_at.timetuple()) * 1_000_000 + created_at.microsecond
    )
