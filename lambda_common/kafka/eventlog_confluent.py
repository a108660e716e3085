"""The batch layer's event log with confluent-kafka (``KAFKA_CLIENT=confluent``).

librdkafka decodes records in C: reading, about two thirds of landing's Python CPU with
kafka-python, mostly leaves the interpreter. Reads, offsets and the commit go through
librdkafka's consumer; ``describe`` and ``forget`` stay on kafka-python's admin client
(``BrokerEventLog``): confluent-kafka's ``describe_topics`` gives no topic id, which the
batch layer's identity check needs. Every error is mapped as ``KafkaEventLog`` maps
kafka-python's: ``OffsetsGone``, ``TopicMissing``, else ``ServiceUnavailable``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any, cast

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from lambda_common.errors import ServiceUnavailable
from lambda_common.kafka.broker import confluent_config
from lambda_common.kafka.eventlog import (
    READ_STALL_S,
    BrokerEventLog,
    Message,
    Offsets,
    offsets_gone,
    read_stalled,
    topic_missing,
)

logger = logging.getLogger(__name__)

# librdkafka's fetch sizes, as KafkaEventLog's: a few large fetches per chunk.
_FETCH: dict[str, Any] = {
    "max.partition.fetch.bytes": 8 << 20,
    "fetch.max.bytes": 64 << 20,
}
# Messages taken from librdkafka's queue per call: amortises the call, small enough that
# a chunk is still encoded as it arrives.
_BATCH = 2_000
# A consumer needs a group id even to read assigned offsets; landing workers read only
# (no commit, no membership: assignment is manual), under this one.
_READ_ONLY_GROUP = "lambda-batch-read-only"

# Offsets gone: with auto.offset.reset=error librdkafka reports an out-of-range fetch as
# an error event (_AUTO_OFFSET_RESET) instead of jumping.
_GONE = frozenset({KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE})
_MISSING = frozenset(
    {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}
)
# Connection-level errors librdkafka reports as events while it reconnects on its own.
_TRANSIENT = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._TIMED_OUT,
        KafkaError._MSG_TIMED_OUT,
    }
)
# Bounds each offsets or commit request, as kafka-python's request timeout does.
_REQUEST_TIMEOUT_S = 10.0


def _error(e: KafkaException) -> KafkaError | None:
    error = e.args[0] if e.args else None
    return error if isinstance(error, KafkaError) else None


class ConfluentEventLog(BrokerEventLog):
    """The real event log with confluent-kafka's consumer, created on first use."""

    @cached_property
    def consumer(self) -> Consumer:
        """The consumer, created on first use (librdkafka connects in the background)."""
        try:
            return Consumer(
                {
                    "group.id": self.group or _READ_ONLY_GROUP,
                    "client.id": self.client_id,
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    # Never jump silently: a range that is gone is an error the cycle reports.
                    "auto.offset.reset": "error",
                    **_FETCH,
                    **confluent_config(self.settings),
                }
            )
        except (KafkaException, ValueError) as e:
            raise self._fail("connecting", e) from e

    def _mapped(self, what: str, topic: str, e: KafkaException) -> ServiceUnavailable:
        error = _error(e)
        if error is not None and error.code() in _MISSING:
            return topic_missing(topic)
        return self._fail(what, e)

    def offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, Offsets]:
        if not partitions:
            return {}
        timeout = _REQUEST_TIMEOUT_S
        consumer = self.consumer
        try:
            marks = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
                for p in partitions
            }
            committed: dict[int, int | None] = dict.fromkeys(partitions)
            if self.group is not None:
                asked = [TopicPartition(topic, p) for p in partitions]
                for tp in consumer.committed(asked, timeout=timeout):
                    if tp.error is not None:
                        raise KafkaException(tp.error)
                    committed[tp.partition] = None if tp.offset == OFFSET_INVALID else tp.offset
        except KafkaException as e:
            raise self._mapped(f"reading the offsets of {topic!r}", topic, e) from e
        return {p: Offsets(int(low), int(high), committed[p]) for p, (low, high) in marks.items()}

    def read(
        self, topic: str, partition: int, first: int, last: int, *, stall_s: float = READ_STALL_S
    ) -> Iterator[Message]:
        # A generator: the chunk is encoded as it arrives, never held whole in memory.
        consumer = self.consumer
        what = f"reading {topic}/{partition} offsets {first}..{last}"
        position = first
        try:
            consumer.assign([TopicPartition(topic, partition, first)])
            progress = time.monotonic()
            while position <= last:
                # consume() returns when it has that many or at the timeout: never ask
                # past the range's end, or its last call would wait out the timeout.
                batch = consumer.consume(min(_BATCH, last - position + 1), timeout=1.0)
                before = position
                for record in batch:
                    error = record.error()
                    if error is not None:
                        self._raise_read_error(error, topic, partition, first, last, what)
                        continue
                    # None only on error events, handled above.
                    offset = cast(int, record.offset())
                    position = offset + 1
                    if first <= offset <= last:
                        yield Message(offset, record.timestamp()[1], record.value())
                if position > before:  # records, not only error events, are progress
                    progress = time.monotonic()
                    continue
                # Past offsets that are no records (transaction markers), if any.
                (at,) = consumer.position([TopicPartition(topic, partition)])
                position = max(position, at.offset)
                if position <= last and time.monotonic() - progress > stall_s:
                    raise read_stalled(topic, partition, first, last, stall_s, position)
        except KafkaException as e:
            raise self._mapped(what, topic, e) from e
        finally:
            if "consumer" in self.__dict__:
                try:
                    consumer.unassign()
                except KafkaException as e:
                    logger.debug("unassigning %s/%s: %s", topic, partition, e)

    def _raise_read_error(
        self, error: KafkaError, topic: str, partition: int, first: int, last: int, what: str
    ) -> None:
        """Raise the project's error for an error event read; return for the transient
        ones librdkafka retries by itself (the stall deadline bounds those)."""
        code, cause = error.code(), KafkaException(error)
        if code in _GONE:
            raise offsets_gone(topic, partition, first, last) from cause
        if code in _MISSING:
            raise topic_missing(topic) from cause
        if error.fatal() or not (error.retriable() or code in _TRANSIENT):
            raise self._fail(what, cause) from cause
        logger.debug("%s: %s (retried)", what, error.str())

    def commit(self, topic: str, ends: dict[int, int]) -> None:
        self._committing_group()
        offsets = [TopicPartition(topic, p, end) for p, end in ends.items()]
        try:
            results = self.consumer.commit(offsets=offsets, asynchronous=False)
            for tp in results or []:
                if tp.error is not None:
                    raise KafkaException(tp.error)
        except KafkaException as e:
            raise self._mapped(f"committing the offsets of {topic!r}", topic, e) from e

    def close(self) -> None:
        if "consumer" in self.__dict__:
            try:
                self.consumer.close()
            except (KafkaException, RuntimeError) as e:
                logger.debug("closing the consumer: %s", e)
            del self.__dict__["consumer"]
