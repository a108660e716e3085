"""``KAFKA_CLIENT``: the setting, librdkafka's options from the settings, the one place
each layer picks its client, and the confluent-kafka adapters' accounting and error
mapping against fakes of librdkafka's producer and consumer (no broker)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

import ingestion.producer_confluent as producer_confluent
import lambda_common.kafka.eventlog_confluent as eventlog_confluent
from ingestion import factory as producer_factory
from ingestion import producer as producer_module
from ingestion.producer import PRODUCER_OPTIONS
from ingestion.producer_confluent import CONFLUENT_PRODUCER_OPTIONS, ConfluentProducer
from lambda_common.contract import Event
from lambda_common.errors import ConfigError, ServiceUnavailable
from lambda_common.kafka.broker import confluent_config, confluent_security_config
from lambda_common.kafka.eventlog import KafkaEventLog, OffsetsGone, TopicMissing
from lambda_common.kafka.eventlog_confluent import ConfluentEventLog
from lambda_common.kafka.factory import open_event_log
from lambda_common.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean(clean_env: None) -> None:
    """No developer .env or exported setting (KAFKA_CLIENT!) reaches these tests."""


# --- the setting -------------------------------------------------------------------------


def test_kafka_python_is_the_default_and_confluent_the_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().kafka_client == "kafka-python"
    monkeypatch.setenv("KAFKA_CLIENT", "confluent")
    assert load_settings().kafka_client == "confluent"


def test_a_wrong_client_fails_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_CLIENT", "librdkafka")
    with pytest.raises(ConfigError, match=r"^invalid setting KAFKA_CLIENT: .*'librdkafka'"):
        load_settings()


def test_msk_iam_with_confluent_fails_at_start_naming_both_settings() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            kafka_client="confluent",
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="AWS_MSK_IAM",
        )
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("invalid setting KAFKA_SASL_MECHANISM: AWS_MSK_IAM")
    assert "KAFKA_CLIENT=kafka-python" in message


# --- librdkafka's options ----------------------------------------------------------------


def test_plaintext_adds_nothing_but_the_brokers_and_timeouts() -> None:
    settings = load_settings(kafka_bootstrap_servers="a:9092,b:9093")
    assert confluent_security_config(settings) == {}
    config = confluent_config(settings, timeout_s=10)
    assert config["bootstrap.servers"] == "a:9092,b:9093"
    assert config["socket.connection.setup.timeout.ms"] == 10_000
    assert config["socket.timeout.ms"] == 10_000


def test_the_mapping_refuses_msk_iam_too() -> None:
    # Settings built past their validation (model_copy does not validate): the mapping
    # still refuses, in one line, and never with a secret.
    settings = load_settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="AWS_MSK_IAM"
    ).model_copy(update={"kafka_client": "confluent"})
    with pytest.raises(ConfigError, match=r"KAFKA_SASL_MECHANISM.*KAFKA_CLIENT=kafka-python"):
        confluent_security_config(settings)


def test_the_confluent_producer_keeps_kafka_pythons_guarantees() -> None:
    assert {
        "acks": PRODUCER_OPTIONS["acks"],
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": PRODUCER_OPTIONS["linger_ms"],
        "batch.size": PRODUCER_OPTIONS["batch_size"],
        "partitioner": "murmur2_random",  # kafka-python's partition for every key
        "message.timeout.ms": 120_000,  # kafka-python's delivery timeout
        "delivery.report.only.error": True,
    } == CONFLUENT_PRODUCER_OPTIONS


# --- the one place each layer picks its client --------------------------------------------


@pytest.mark.parametrize(
    ("client", "kind"), [("kafka-python", KafkaEventLog), ("confluent", ConfluentEventLog)]
)
def test_the_batch_layer_gets_the_event_log_of_the_setting(client: str, kind: type) -> None:
    settings = load_settings(kafka_client=client, kafka_bootstrap_servers="localhost:1")
    log = open_event_log(settings, "g", client_id="c")
    assert type(log) is kind and log.group == "g"  # type: ignore[attr-defined]
    log.close()  # nothing was connected: clients are made on first use


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_the_producers_get_the_producer_of_the_setting(
    monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    made: list[tuple[str, Settings, str | None]] = []
    monkeypatch.setattr(
        producer_factory, "KafkaPythonProducer", lambda s, t, **_: made.append(("kp", s, t))
    )
    monkeypatch.setattr(
        producer_confluent, "ConfluentProducer", lambda s, t, **_: made.append(("cf", s, t))
    )
    settings = load_settings(kafka_client=client)
    producer_factory.open_producer(settings, "t")
    assert made == [("kp" if client == "kafka-python" else "cf", settings, "t")]


# --- the confluent producer against a fake librdkafka --------------------------------------


class _FakeProducer:
    """librdkafka's producer: a queue of ``room`` messages, drained by poll()."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.room = 10**9
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.polls = 0
        self.queued_after_flush = 0
        self.purged = False
        self.closed = False

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        if len(value) > 1_000_000:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        if self.room <= 0:
            raise BufferError("Local: Queue full")
        self.room -= 1
        self.produced.append((topic, key, value))

    def poll(self, timeout: float = -1) -> int:
        self.polls += 1
        return 0

    def fail(self, n: int) -> None:
        for _ in range(n):
            self.config["on_delivery"](KafkaError(KafkaError._MSG_TIMED_OUT), None)

    def flush(self, timeout: float = -1) -> int:
        if self.purged:
            return 0
        return self.queued_after_flush

    def purge(self) -> None:
        # Purged messages report their failure through the delivery callback.
        self.fail(self.queued_after_flush)
        self.purged = True

    def close(self) -> bool:
        self.closed = True
        return True


def _event(n: int) -> Event:
    return Event(
        tweet_id=str(1000 + n),
        created_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        user_id="u",
        followers_count=1,
        favorite_count=0,
        retweet_count=0,
    )


@pytest.fixture
def fake_producer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_FakeProducer]]:
    made: list[_FakeProducer] = []

    def factory(config: dict[str, Any]) -> _FakeProducer:
        made.append(_FakeProducer(config))
        return made[-1]

    monkeypatch.setattr(producer_module, "ensure_topic", lambda *a, **k: True)
    monkeypatch.setattr(producer_confluent, "Producer", factory)
    yield made


def test_sends_are_keyed_counted_and_failures_counted_once(
    fake_producer: list[_FakeProducer],
) -> None:
    producer = ConfluentProducer(load_settings(kafka_client="confluent"), "t")
    (fake,) = fake_producer
    assert fake.config["acks"] == "all" and fake.config["enable.idempotence"] is True
    for n in range(5):
        producer.send(_event(n))
    assert [(t, k) for t, k, _ in fake.produced] == [
        ("t", str(1000 + n).encode()) for n in range(5)
    ]
    assert fake.produced[0][2] == _event(0).to_json_bytes()
    fake.fail(2)
    producer.close()
    s = producer.stats
    assert (s.sent, s.failed, s.delivered) == (5, 2, 3) and fake.closed
    assert s.first_error is not None and s.first_error.startswith("_MSG_TIMED_OUT")


def test_a_record_too_large_is_one_counted_failure_as_with_kafka_python(
    fake_producer: list[_FakeProducer],
) -> None:
    producer = ConfluentProducer(load_settings(kafka_client="confluent"), "t")
    huge = dataclasses.replace(_event(1), text="x" * 1_000_001)
    for event in (_event(0), huge, _event(2)):
        producer.send(event)
    producer.close()
    s = producer.stats
    assert (s.sent, s.failed, s.delivered) == (3, 1, 2)
    assert s.first_error is not None and s.first_error.startswith("MSG_SIZE_TOO_LARGE")


def test_a_full_queue_waits_for_room_then_gives_up_after_max_block(
    fake_producer: list[_FakeProducer], monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = ConfluentProducer(load_settings(kafka_client="confluent"), "t")
    (fake,) = fake_producer
    fake.room = 0
    polls = 0

    def poll(timeout: float = -1) -> int:
        nonlocal polls
        polls += 1
        if polls == 3:
            fake.room = 1  # deliveries made room
        return 0

    monkeypatch.setattr(fake, "poll", poll)
    producer.send(_event(1))
    assert producer.stats.sent == 1 and len(fake.produced) == 1
    monkeypatch.setattr(producer_confluent, "_MAX_BLOCK_S", 0.2)
    with pytest.raises(ServiceUnavailable, match="queue stayed full"):
        producer.send(_event(2))
    assert producer.stats.sent == 1


def test_what_the_final_flush_leaves_is_counted_failed_each_once(
    fake_producer: list[_FakeProducer],
) -> None:
    producer = ConfluentProducer(load_settings(kafka_client="confluent"), "t")
    (fake,) = fake_producer
    for n in range(10):
        producer.send(_event(n))
    fake.queued_after_flush = 4
    producer.close(timeout_s=0.1)
    s = producer.stats
    assert (s.sent, s.failed, s.delivered) == (10, 4, 6) and fake.purged


# --- the confluent event log against a fake librdkafka consumer ---------------------------


class _Record:
    def __init__(self, offset: int, error: KafkaError | None = None) -> None:
        self._offset, self._error = offset, error

    def error(self) -> KafkaError | None:
        return self._error

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_790_000_000_000 + self._offset)

    def value(self) -> bytes:
        return b"v%d" % self._offset


class _FakeConsumer:
    """Hands out prepared ``consume`` results, then nothing."""

    def __init__(self, batches: list[list[_Record]]) -> None:
        self.batches = batches
        self.assigned: list[Any] = []
        self.asked: list[int] = []

    def assign(self, tps: list[Any]) -> None:
        self.assigned = tps

    def unassign(self) -> None:
        self.assigned = []

    def consume(self, num_messages: int, timeout: float) -> list[_Record]:
        self.asked.append(num_messages)
        return self.batches.pop(0) if self.batches else []

    def position(self, tps: list[Any]) -> list[Any]:
        return [type("TP", (), {"offset": -1001})()]


def _log(batches: list[list[_Record]]) -> ConfluentEventLog:
    log = ConfluentEventLog(load_settings(kafka_client="confluent"), None, client_id="t")
    log.__dict__["consumer"] = _FakeConsumer(batches)
    return log


def test_a_read_yields_the_range_only_and_skips_what_librdkafka_retries() -> None:
    transient = _Record(-1, KafkaError(KafkaError._TRANSPORT))
    log = _log([[_Record(3), _Record(4)], [transient], [_Record(5), _Record(6)]])
    got = list(log.read("t", 0, 4, 5))
    assert [(m.offset, m.timestamp_ms, m.value) for m in got] == [
        (4, 1_790_000_000_004, b"v4"),
        (5, 1_790_000_000_005, b"v5"),
    ]
    assert log.consumer.assigned == []  # unassigned when the read ends
    # Never more than the range still needs: consume() would wait out its timeout.
    assert log.consumer.asked == [2, 1, 1]


@pytest.mark.parametrize(
    ("code", "raised", "text"),
    [
        (KafkaError._AUTO_OFFSET_RESET, OffsetsGone, "are no longer in the partition"),
        (KafkaError.OFFSET_OUT_OF_RANGE, OffsetsGone, "are no longer in the partition"),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, TopicMissing, "does not exist"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, ServiceUnavailable, "reading t/0 offsets 0..9"),
    ],
)
def test_every_read_error_is_the_projects_error(code: int, raised: type, text: str) -> None:
    log = _log([[_Record(0), _Record(-1, KafkaError(code))]])
    with pytest.raises(raised, match=text):
        list(log.read("t", 0, 0, 9))


def test_a_read_without_progress_fails_after_its_stall_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(eventlog_confluent.time, "monotonic", lambda: float(next(clock)))
    log = _log([[_Record(0)]])
    with pytest.raises(ServiceUnavailable, match=r"no record of t/0 for 25s .* \(at 1\)"):
        list(log.read("t", 0, 0, 9, stall_s=25))


def test_error_events_alone_are_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    # A broker gone: librdkafka reports its reconnects as error events, never records.
    monkeypatch.setattr(eventlog_confluent.time, "monotonic", lambda: float(next(clock)))
    clock = iter(range(0, 100_000, 10))
    down = [[_Record(-1, KafkaError(KafkaError._TRANSPORT))] for _ in range(1000)]
    log = _log([[_Record(0)], *down])
    with pytest.raises(ServiceUnavailable, match=r"no record of t/0 for 25s"):
        list(log.read("t", 0, 0, 9, stall_s=25))
    assert len(log.consumer.batches) > 990  # gave up after its deadline, not at their end
