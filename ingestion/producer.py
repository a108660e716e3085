"""Writing events to Kafka: the idempotent producer, pacing, progress and the summary.

Every source ends here. Messages are keyed by ``tweet_id`` (so copies of a tweet share a
partition and keep their order), sent with ``acks=all`` and the idempotent producer (a
retried batch is never written twice), lz4-compressed in batches, by kafka-python or
confluent-kafka (``KAFKA_CLIENT``; :func:`ingestion.factory.open_producer`).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError

from lambda_common.contract import Event
from lambda_common.contract.wire import WireMessage
from lambda_common.errors import ServiceUnavailable
from lambda_common.kafka.broker import client_config, ensure_topic
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

PRODUCER_OPTIONS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    # Compressed batches are both smaller on the wire and, with kafka-python, about
    # 3x faster to build than uncompressed ones (measured: ~18k vs ~53k msg/s).
    "compression_type": "lz4",
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_block_ms": 30_000,  # a full buffer (broker gone) blocks at most this long
}


@dataclass
class Stats:
    """What a producer run did. Times are ``time.monotonic()``'s: the producer made
    (``started``), the first event handed to the client (``first_sent``), the final flush
    done (``finished``)."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    bad_input: int = 0
    started: float = field(default_factory=time.monotonic)
    first_error: str | None = None
    first_sent: float | None = None
    finished: float | None = None
    # Where sending's time went (perf_counter seconds, summed over chunks of events, never
    # timed per event): the source making the next events in their wire form (generating
    # or reading, checking, encoding), handing them to the client, the final flush.
    source_s: float = 0.0
    send_s: float = 0.0
    flush_s: float = 0.0

    def breakdown(self) -> str:
        """``source X µs, send Y µs per event, flush Zs``: the summary's time split."""
        per = 1e6 / max(self.sent, 1)
        return (
            f"per event: source+encode {self.source_s * per:.1f} µs, "
            f"send {self.send_s * per:.1f} µs; final flush {self.flush_s:.2f}s"
        )

    @property
    def elapsed(self) -> float:
        """Seconds of sending: from the first send (the start, before one) to the final
        flush (now, before it). Start-up is not in it: see :func:`startup_s`."""
        begin = self.started if self.first_sent is None else self.first_sent
        end = time.monotonic() if self.finished is None else self.finished
        return max(end - begin, 1e-9)


def process_started() -> float:
    """When this process started, on ``time.monotonic()``'s clock: the interpreter's own
    start-up and the imports are before any line of ours runs. Linux tells it
    (``/proc/self/stat``, in clock ticks since boot); elsewhere, when this module was
    imported."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED
    return time.monotonic() - max(age, 0.0)


_IMPORTED = time.monotonic()
_NOTHING = object()  # what produce() finds in an empty source
# Unpaced, produce() takes this many items from the source, then sends them: two clock
# reads per chunk tell the source's time from the client's, none per event.
CHUNK = 1024


def startup_s(stats: Stats, process_start: float) -> float | None:
    """Seconds from ``process_start`` to the first send (None: nothing was sent): the
    interpreter, imports, settings, the topic check and the client, and a source's own
    set-up (a file opened, the synthetic authors drawn)."""
    return None if stats.first_sent is None else stats.first_sent - process_start


class Progress:
    """One status line on stderr at most once a second, and a summary at the end."""

    def __init__(self, stats: Stats, stream: TextIO = sys.stderr, interval_s: float = 1.0) -> None:
        self.stats = stats
        self.stream = stream
        self.interval_s = interval_s
        self._last = time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            s = self.stats
            print(
                f"sent {s.sent:,} ({s.sent / s.elapsed:,.0f}/s), "
                f"errors {s.failed:,}, bad input {s.bad_input:,}",
                file=self.stream,
                flush=True,
            )


class Pacer:
    """Holds the send rate at ``rate`` events/s (0 = as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._start = time.monotonic()

    def wait(self, sent: int) -> None:
        if self.rate <= 0:
            return
        ahead = self._start + sent / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


class EventProducer(ABC):
    """The Kafka side of every source: ``send`` events, ``close`` flushes.

    What both clients share: the topic (created if missing, which also fails fast, naming
    the setting, when the broker is down or refuses TLS or the credentials), the stats,
    and failure accounting. :func:`ingestion.factory.open_producer` picks the client
    (``KAFKA_CLIENT``).
    """

    def __init__(self, settings: Settings, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.kafka_topic
        self.stats = Stats()
        ensure_topic(settings, self.topic)

    def _failed(self, error: str) -> None:
        """Count one undelivered event; the first error is kept and logged."""
        self.stats.failed += 1
        if self.stats.first_error is None:
            self.stats.first_error = error[:200]
            logger.error("delivery failed: %s", self.stats.first_error)

    def send(self, event: Event) -> None:
        """Queue one event (returns at once; delivery is counted by callbacks)."""
        self.send_message(event.tweet_id.encode(), event.to_json_bytes())

    @abstractmethod
    def send_message(self, key: bytes, value: bytes) -> None:
        """Queue one message already in its wire form: an event's key and value, as
        :meth:`send` would make them (:mod:`lambda_common.contract.wire`)."""

    @abstractmethod
    def close(self, timeout_s: float = 60.0) -> None:
        """Flush what is queued (bounded wait), close, and set ``stats.delivered``."""


class ClientProducer(EventProducer):
    """An ``EventProducer`` on a Kafka client library: what both clients share in making
    the client and in closing it (a bounded flush, whatever is left counted as failed)."""

    # The client's errors making it (Kafka unreachable) and flushing (all unaccounted).
    connect_errors: tuple[type[Exception], ...]
    flush_errors: tuple[type[Exception], ...]

    def __init__(
        self, settings: Settings, topic: str | None = None, *, timeout_s: float = 10.0
    ) -> None:
        super().__init__(settings, topic)
        try:
            self._connect(timeout_s)
        except self.connect_errors as e:
            raise ServiceUnavailable(
                f"Kafka at {settings.kafka_bootstrap_servers} is unreachable ({type(e).__name__})"
            ) from e

    @abstractmethod
    def _connect(self, timeout_s: float) -> None:
        """Make the client (``timeout_s``: its requests' timeout)."""

    @abstractmethod
    def _flush(self, timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for what is queued; count what is left as failed."""

    @abstractmethod
    def _close_client(self) -> None:
        """Close the client (after the flush, failed or not)."""

    def close(self, timeout_s: float = 60.0) -> None:
        flushing = time.perf_counter()
        try:
            self._flush(timeout_s)
        except self.flush_errors as e:
            # Whatever was still queued is unaccounted for: count it all as failed.
            self._failed(f"{type(e).__name__}: {e}")
            self.stats.failed = self.stats.sent
        finally:
            self._close_client()
        self.stats.delivered = self.stats.sent - self.stats.failed
        self.stats.finished = time.monotonic()
        self.stats.flush_s = time.perf_counter() - flushing


class KafkaPythonProducer(ClientProducer):
    """``EventProducer`` with kafka-python's ``KafkaProducer``."""

    connect_errors = flush_errors = (KafkaError,)

    def _connect(self, timeout_s: float) -> None:
        self._producer = KafkaProducer(
            client_id="lambda-producer",
            **PRODUCER_OPTIONS,
            **client_config(self.settings, timeout_s=timeout_s),
        )

    def _errback(self, error: BaseException) -> None:
        self._failed(f"{type(error).__name__}: {error}")

    def send_message(self, key: bytes, value: bytes) -> None:
        future = self._producer.send(self.topic, key=key, value=value)
        # Only failures get a callback: a success callback per message costs ~10% of
        # throughput, and after the final flush delivered = sent - failed.
        future.add_errback(self._errback)
        self.stats.sent += 1

    def _flush(self, timeout_s: float) -> None:
        self._producer.flush(timeout=timeout_s)

    def _close_client(self) -> None:
        self._producer.close(timeout=5)


def produce(
    events: Iterable[WireMessage | Event | Any],
    producer: EventProducer,
    *,
    rate: float = 0,
    on_tick: Callable[[], None] | None = None,
    on_bad: Callable[[Any], None] | None = None,
) -> Stats:
    """Send every ``Event`` and ``WireMessage`` from ``events`` at ``rate``; anything else
    is bad input.

    ``on_tick`` runs after every item (progress reporting; it must be cheap).

    Ctrl-C stops the loop; the caller still closes the producer, which flushes.
    """
    pacer = Pacer(rate)
    stats = producer.stats
    items = iter(events)
    try:
        # The rate is counted from the first item in hand: a source's set-up is start-up.
        first = next(items, _NOTHING)
        if first is _NOTHING:
            return stats
        stats.first_sent = time.monotonic()
        chunks = _paced_chunks(items, first) if rate > 0 else _chunks(items, first, stats)
        pace = pacer.wait if rate > 0 else None  # no call per event when unpaced
        for chunk in chunks:
            sending = time.perf_counter()
            for item in chunk:
                if isinstance(item, WireMessage):
                    producer.send_message(item.key, item.value)
                elif isinstance(item, Event):
                    producer.send(item)
                else:
                    stats.bad_input += 1
                    if on_bad is not None:
                        on_bad(item)
                if pace is not None:
                    pace(stats.sent)  # after bad input: the same send count, no new wait
                if on_tick is not None:
                    on_tick()
            stats.send_s += time.perf_counter() - sending
    except KeyboardInterrupt:
        logger.info("interrupted: flushing what was sent")
    return stats


def _chunks(items: Iterator[Any], first: Any, stats: Stats) -> Iterator[list[Any]]:
    """The source's items, ``CHUNK`` at a time, the time taken to make them added to
    ``stats.source_s``."""
    chunk = [first]
    while True:
        making = time.perf_counter()
        chunk.extend(itertools.islice(items, CHUNK - len(chunk)))
        stats.source_s += time.perf_counter() - making
        if not chunk:
            return
        yield chunk
        chunk = []


def _paced_chunks(items: Iterator[Any], first: Any) -> Iterator[list[Any]]:
    """Paced, each item is sent as soon as the source makes it: one item a chunk (the
    time split is not measured, the waits would be in it)."""
    yield [first]
    for item in items:
        yield [item]
