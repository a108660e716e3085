"""``EventProducer`` with confluent-kafka (``KAFKA_CLIENT=confluent``): librdkafka, in C.

The same guarantees as kafka-python's producer, from the same ``PRODUCER_OPTIONS``:
``acks=all``, the idempotent producer, lz4 batches, the same linger and batch size, and
the same partition for a key (murmur2, as kafka-python and the Java client), so the two
clients can write one topic and copies of a tweet still share a partition. A full queue
(the broker gone) blocks a send at most ``max_block_ms``, as kafka-python's does.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from ingestion.producer import PRODUCER_OPTIONS, ClientProducer
from lambda_common.errors import ServiceUnavailable
from lambda_common.kafka.broker import confluent_config

logger = logging.getLogger(__name__)

# kafka-python's option names are librdkafka's with "_" for "." (acks, enable.idempotence,
# compression.type, linger.ms, batch.size); max_block_ms has no librdkafka counterpart:
# send() below bounds its wait for room in the queue by it.
_MAX_BLOCK_S = PRODUCER_OPTIONS["max_block_ms"] / 1000
# Messages sent between two polls, which serve delivery reports (failures only) and log
# lines: a poll per message is a call into librdkafka that almost always finds nothing,
# while a report can wait this long in its queue (a full queue and the final flush poll
# at once, whatever the count).
POLL_EVERY = 1024
CONFLUENT_PRODUCER_OPTIONS: dict[str, Any] = {
    **{k.replace("_", "."): v for k, v in PRODUCER_OPTIONS.items() if k != "max_block_ms"},
    # librdkafka's default partitioner hashes keys with CRC32; kafka-python's with murmur2.
    "partitioner": "murmur2_random",
    # A message not acknowledged within this fails, as after kafka-python's default
    # delivery_timeout_ms (librdkafka's own default is 5 minutes).
    "message.timeout.ms": 120_000,
    # Only failures get a callback, as with kafka-python: after the final flush
    # delivered = sent - failed.
    "delivery.report.only.error": True,
}


class ConfluentProducer(ClientProducer):
    """``EventProducer`` with confluent-kafka's ``Producer``."""

    connect_errors = (KafkaException, ValueError)
    flush_errors = (KafkaException,)

    def _connect(self, timeout_s: float) -> None:
        self._producer = Producer(
            {
                "client.id": "lambda-producer",
                **CONFLUENT_PRODUCER_OPTIONS,
                **confluent_config(self.settings, timeout_s=timeout_s),
                "on_delivery": self._delivered,
            }
        )

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        # Called from poll()/flush() on this thread; only for failures (see the options).
        if error is not None:
            self._failed(f"{error.name()}: {error.str()}")

    def send_message(self, key: bytes, value: bytes) -> None:
        try:
            self._produce(key, value)
        except KafkaException as e:
            error = e.args[0] if e.args else None
            if not isinstance(error, KafkaError) or error.code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise ServiceUnavailable(
                    f"Kafka at {self.settings.kafka_bootstrap_servers}: sending failed ({e})"
                ) from e
            # kafka-python fails such a record's future: one counted failure, not the run.
            self.stats.sent += 1
            self._failed(f"{error.name()}: {error.str()}")
            return
        self.stats.sent += 1
        if not self.stats.sent % POLL_EVERY:
            # Serves delivery reports (failures only) and librdkafka's log lines; no wait.
            self._producer.poll(0)

    def _produce(self, key: bytes, value: bytes) -> None:
        try:
            self._producer.produce(self.topic, value, key)
        except BufferError:
            self._send_when_room(key, value)

    def _send_when_room(self, key: bytes, value: bytes) -> None:
        """Wait for room in librdkafka's queue, at most ``max_block_ms``, as kafka-python
        blocks a send on a full buffer; then fail as it does (the broker is gone)."""
        deadline = time.monotonic() + _MAX_BLOCK_S
        while True:
            self._producer.poll(0.1)  # deliveries make room
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(
                        f"Kafka at {self.settings.kafka_bootstrap_servers}: the producer's "
                        f"queue stayed full for {_MAX_BLOCK_S:.0f}s (is the broker reachable?)"
                    ) from None

    def _flush(self, timeout_s: float) -> None:
        if self._producer.flush(timeout_s):
            # Not delivered within the wait: purged, each reports its failure through
            # the callback (served by the second flush), so each is counted once.
            self._producer.purge()
            left = self._producer.flush(5)
            self.stats.failed += left

    def _close_client(self) -> None:
        self._producer.close()
