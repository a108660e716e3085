"""The event log the batch layer reads: Kafka behind a small interface.

``EventLog`` is what a batch cycle needs of a topic: its identity and partitions, each
partition's beginning, end and committed offsets, a bounded read of an offset range,
and the commit. ``KafkaEventLog`` (kafka-python) and ``ConfluentEventLog``
(confluent-kafka, ``KAFKA_CLIENT=confluent``) are the real ones (one picked by
:func:`lambda_common.kafka.factory.open_event_log`), mapping every Kafka error to
the project's errors, so a broker that goes away mid-cycle is a ``ServiceUnavailable``
the scheduler retries, never a vendor traceback that ends it.
``InMemoryEventLog`` is the fake the batch core's decisions are unit-tested with: it can
expire offsets (retention), add partitions and re-create a topic, as operators do.
"""

from __future__ import annotations

import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import (
    KafkaError,
    NoError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
    for_code,
)
from kafka.structs import OffsetAndMetadata

from lambda_common.errors import LambdaError, ServiceUnavailable
from lambda_common.kafka.broker import admin_client, client_config
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

# A read that makes no progress for this long fails (ServiceUnavailable, retried by the
# scheduler) instead of waiting forever for offsets that may never come.
READ_STALL_S = 60.0

# Fetch sizes: a few large fetches per chunk rather than many 1 MiB ones.
_FETCH = {
    "max_poll_records": 2_000,
    "max_partition_fetch_bytes": 8 << 20,
    "fetch_max_bytes": 64 << 20,
}


class TopicMissing(ServiceUnavailable):
    """The topic does not exist (yet): produce to it first."""


class OffsetsGone(LambdaError):
    """Offsets asked for are no longer in the partition (retention, or a re-created topic)."""


class Message(NamedTuple):
    """What landing needs of a Kafka record (a tuple: built once per record, cheaply)."""

    offset: int
    timestamp_ms: int
    value: bytes | None


@dataclass(frozen=True)
class TopicInfo:
    """A topic's identity and partitions. ``topic_id`` is Kafka's id of this incarnation
    (a deleted and re-created topic gets a new one); None from brokers before 2.8."""

    name: str
    topic_id: str | None
    partitions: tuple[int, ...]


@dataclass(frozen=True)
class Offsets:
    """One partition's offsets: ``beginning`` (earliest retained), ``end`` (the next
    message's), and the group's ``committed`` one (None: never committed)."""

    beginning: int
    end: int
    committed: int | None


class EventLog(ABC):
    """What the batch layer needs of Kafka (one consumer group)."""

    @abstractmethod
    def describe(self, topic: str) -> TopicInfo:
        """The topic's id and partitions; ``TopicMissing`` if it does not exist."""

    @abstractmethod
    def offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, Offsets]:
        """Beginning, end and committed offsets of ``partitions``."""

    @abstractmethod
    def read(
        self, topic: str, partition: int, first: int, last: int, *, stall_s: float = READ_STALL_S
    ) -> Iterator[Message]:
        """The records of offsets ``first..last`` (inclusive; gaps allowed), in order.

        Fails with ``ServiceUnavailable`` when no record arrives for ``stall_s`` before
        ``last`` is reached, and with ``OffsetsGone`` when the range is no longer in
        the partition: never a hang.
        """

    @abstractmethod
    def commit(self, topic: str, ends: dict[int, int]) -> None:
        """Move the group's committed offsets of ``topic`` to ``ends`` (partition -> offset)."""

    @abstractmethod
    def forget(self, topic: str, partitions: Sequence[int]) -> None:
        """Delete the group's committed offsets of ``partitions`` (a reset starts anew)."""

    def close(self) -> None:  # noqa: B027 - optional: only real clients hold connections
        """Release connections (no-op by default)."""

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def topic_missing(topic: str) -> TopicMissing:
    """The error of a topic that does not exist."""
    return TopicMissing(f"Kafka topic {topic!r} does not exist (produce to it first)")


def offsets_gone(topic: str, partition: int, first: int, last: int) -> OffsetsGone:
    """The error of a range retention deleted, or that a re-created topic never had."""
    return OffsetsGone(
        f"Kafka: offsets {first}..{last} of {topic}/{partition} are no longer in the "
        "partition (retention deleted them, or the topic was re-created)"
    )


def read_stalled(
    topic: str, partition: int, first: int, last: int, stall_s: float, position: int
) -> ServiceUnavailable:
    """The error of a read that made no progress for ``stall_s``."""
    return ServiceUnavailable(
        f"Kafka: no record of {topic}/{partition} for {stall_s:.0f}s while reading "
        f"offsets {first}..{last} (at {position})"
    )


class BrokerEventLog(EventLog):
    """What the real event logs share: settings, group, the error mapping, and the admin
    operations (``describe``, ``forget``), done with kafka-python's admin client whatever
    the consumer: confluent-kafka's admin client does not return a topic's id.

    Manual assignment, not group subscription: offsets still live in the group, but a
    consumer killed mid-cycle leaves no member behind for the next cycle to wait out in
    a rebalance. ``group=None`` reads only (landing workers): it cannot commit.
    """

    def __init__(self, settings: Settings, group: str | None, *, client_id: str) -> None:
        self.settings = settings
        self.group = group
        self.client_id = client_id

    def _fail(self, what: str, e: Exception) -> ServiceUnavailable:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        detail = f"{type(e).__name__}: {first}" if first else type(e).__name__
        return ServiceUnavailable(
            f"Kafka at {self.settings.kafka_bootstrap_servers}: {what} failed ({detail})"
        )

    def _committing_group(self) -> str:
        if self.group is None:
            raise RuntimeError("a read-only event log cannot commit")
        return self.group

    def describe(self, topic: str) -> TopicInfo:
        admin = admin_client(self.settings)
        try:
            (described,) = admin.describe_topics([topic])
        except KafkaError as e:
            raise self._fail(f"describing topic {topic!r}", e) from e
        finally:
            admin.close()
        error = for_code(int(described.get("error_code") or 0))
        if error is UnknownTopicOrPartitionError:
            raise topic_missing(topic)
        if error is not NoError:
            raise ServiceUnavailable(f"Kafka: cannot describe topic {topic!r}: {error.__name__}")
        raw_id = described.get("topic_id")
        topic_id = str(raw_id) if raw_id and raw_id != uuid.UUID(int=0) else None
        partitions = tuple(sorted(int(p["partition_index"]) for p in described["partitions"]))
        return TopicInfo(topic, topic_id, partitions)

    def forget(self, topic: str, partitions: Sequence[int]) -> None:
        if self.group is None:
            raise RuntimeError("a read-only event log has no group")
        admin = admin_client(self.settings)
        try:
            results = admin.delete_group_offsets(
                self.group, [TopicPartition(topic, p) for p in partitions]
            )
        except KafkaError as e:
            raise self._fail(f"deleting the group's offsets of {topic!r}", e) from e
        finally:
            admin.close()
        for tp, error in results.items():
            if error is not NoError and error is not UnknownTopicOrPartitionError:
                raise ServiceUnavailable(
                    f"Kafka: cannot delete the group's offset of {topic}/{tp.partition}: "
                    f"{getattr(error, '__name__', error)}"
                )


class KafkaEventLog(BrokerEventLog):
    """The real event log with kafka-python, the consumer created on first use."""

    @cached_property
    def consumer(self) -> KafkaConsumer:
        """The consumer, created on first use."""
        try:
            return KafkaConsumer(
                group_id=self.group,
                client_id=self.client_id,
                enable_auto_commit=False,
                # Never jump silently: a range that is gone is an error the cycle reports.
                auto_offset_reset="none",
                **_FETCH,
                **client_config(self.settings),
            )
        except KafkaError as e:
            raise self._fail("connecting", e) from e

    def offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, Offsets]:
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return {}
        try:
            beginnings = self.consumer.beginning_offsets(tps)
            ends = self.consumer.end_offsets(tps)
            committed = {
                tp: self.consumer.committed(tp) if self.group is not None else None for tp in tps
            }
        except KafkaError as e:
            raise self._fail(f"reading the offsets of {topic!r}", e) from e
        return {
            tp.partition: Offsets(int(beginnings[tp]), int(ends[tp]), committed[tp]) for tp in tps
        }

    def read(
        self, topic: str, partition: int, first: int, last: int, *, stall_s: float = READ_STALL_S
    ) -> Iterator[Message]:
        # A generator: the chunk is encoded as it arrives, never held whole in memory.
        consumer = self.consumer
        tp = TopicPartition(topic, partition)
        try:
            consumer.assign([tp])
            consumer.seek(tp, first)
            progress = time.monotonic()
            while consumer.position(tp) <= last:
                batch = consumer.poll(timeout_ms=1000)
                records = batch.get(tp, [])
                if records:
                    progress = time.monotonic()
                elif time.monotonic() - progress > stall_s:
                    raise read_stalled(
                        topic, partition, first, last, stall_s, consumer.position(tp)
                    )
                for record in records:
                    if first <= record.offset <= last:
                        yield Message(record.offset, record.timestamp, record.value)
        except (OffsetOutOfRangeError, NoOffsetForPartitionError) as e:
            raise offsets_gone(topic, partition, first, last) from e
        except KafkaError as e:
            raise self._fail(f"reading {topic}/{partition} offsets {first}..{last}", e) from e

    def commit(self, topic: str, ends: dict[int, int]) -> None:
        self._committing_group()
        offsets = {
            TopicPartition(topic, p): OffsetAndMetadata(end, "", -1) for p, end in ends.items()
        }
        try:
            self.consumer.commit(offsets)
        except KafkaError as e:
            raise self._fail(f"committing the offsets of {topic!r}", e) from e

    def close(self) -> None:
        if "consumer" in self.__dict__:
            try:
                self.consumer.close(autocommit=False)
            except KafkaError as e:
                logger.debug("closing the consumer: %s", e)
            del self.__dict__["consumer"]


@dataclass
class _Partition:
    beginning: int = 0
    messages: list[Message] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.beginning + len(self.messages)


@dataclass
class _Topic:
    topic_id: str
    partitions: list[_Partition]


class InMemoryEventLog(EventLog):
    """A fake event log for unit tests: topics in memory, with the operations operators
    perform (expire offsets, add partitions, delete and re-create a topic) and faults."""

    def __init__(self) -> None:
        self.topics: dict[str, _Topic] = {}
        self.committed: dict[tuple[str, int], int] = {}
        self.fail_reads: int = 0  # the next N reads fail as an unreachable broker would
        self.reads: list[tuple[str, int, int, int]] = []

    def create(self, topic: str, partitions: int = 1) -> str:
        """Create (or re-create: new id, empty partitions) ``topic``; returns its id."""
        topic_id = str(uuid.uuid4())
        self.topics[topic] = _Topic(topic_id, [_Partition() for _ in range(partitions)])
        return topic_id

    def delete(self, topic: str) -> None:
        """Delete a topic; like Kafka, its committed offsets go with it."""
        del self.topics[topic]
        self.committed = {k: v for k, v in self.committed.items() if k[0] != topic}

    def append(self, topic: str, partition: int, value: bytes | None, timestamp_ms: int) -> int:
        """Append one record; returns its offset."""
        part = self.topics[topic].partitions[partition]
        offset = part.end
        part.messages.append(Message(offset, timestamp_ms, value))
        return offset

    def add_partitions(self, topic: str, total: int) -> None:
        """Grow the topic to ``total`` partitions."""
        parts = self.topics[topic].partitions
        parts.extend(_Partition() for _ in range(total - len(parts)))

    def expire(self, topic: str, partition: int, before: int) -> None:
        """Retention: delete the records below ``before``."""
        part = self.topics[topic].partitions[partition]
        drop = max(0, min(before, part.end) - part.beginning)
        part.messages = part.messages[drop:]
        part.beginning += drop

    def _topic(self, topic: str) -> _Topic:
        try:
            return self.topics[topic]
        except KeyError:
            raise topic_missing(topic) from None

    def describe(self, topic: str) -> TopicInfo:
        found = self._topic(topic)
        return TopicInfo(topic, found.topic_id, tuple(range(len(found.partitions))))

    def offsets(self, topic: str, partitions: Sequence[int]) -> dict[int, Offsets]:
        found = self._topic(topic)
        return {
            p: Offsets(
                found.partitions[p].beginning,
                found.partitions[p].end,
                self.committed.get((topic, p)),
            )
            for p in partitions
        }

    def read(
        self, topic: str, partition: int, first: int, last: int, *, stall_s: float = READ_STALL_S
    ) -> Iterator[Message]:
        self.reads.append((topic, partition, first, last))
        if self.fail_reads:
            self.fail_reads -= 1
            raise ServiceUnavailable("Kafka at memory: reading failed (broker down)")
        part = self._topic(topic).partitions[partition]
        if first < part.beginning:
            raise offsets_gone(topic, partition, first, last)
        if last >= part.end:
            raise read_stalled(topic, partition, first, last, stall_s, part.end)
        # A generator like the real one: nothing is read until the chunk is encoded.
        yield from part.messages[first - part.beginning : last - part.beginning + 1]

    def commit(self, topic: str, ends: dict[int, int]) -> None:
        self._topic(topic)
        for partition, end in ends.items():
            self.committed[(topic, partition)] = end

    def forget(self, topic: str, partitions: Sequence[int]) -> None:
        for partition in partitions:
            self.committed.pop((topic, partition), None)
