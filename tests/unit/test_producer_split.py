"""The producer's time split: the source's time (generating or reading, checking,
encoding) told from the client's (send) in chunks of events, never per event."""

from __future__ import annotations

import time
from collections.abc import Iterator

from ingestion.producer import CHUNK, EventProducer, Stats, produce
from lambda_common.contract.wire import WireMessage


class _Slow(EventProducer):
    """An EventProducer without Kafka whose every send takes a little while."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.keys: list[bytes] = []

    def send_message(self, key: bytes, value: bytes) -> None:
        time.sleep(0.0002)
        self.keys.append(key)
        self.stats.sent += 1

    def close(self, timeout_s: float = 60.0) -> None:
        self.stats.delivered = self.stats.sent
        self.stats.finished = time.monotonic()


def _slow_source(count: int) -> Iterator[WireMessage | str]:
    for n in range(count):
        if n % 500 == 0:
            time.sleep(0.02)  # the source's own time: generating, reading, encoding
        yield "not an event" if n == 7 else WireMessage(str(n).encode(), b"{}")


def test_produce_tells_the_source_time_from_the_send_time_in_chunks() -> None:
    producer = _Slow()
    bad: list[object] = []
    produce(_slow_source(CHUNK * 2 + 3), producer, on_bad=bad.append)
    stats = producer.stats
    # Every item, in order, bad input counted: chunking changes nothing of what is sent.
    assert producer.keys == [str(n).encode() for n in range(CHUNK * 2 + 3) if n != 7]
    assert stats.bad_input == 1 and bad == ["not an event"]
    assert stats.source_s >= 0.08  # five sleeps of 20 ms
    assert stats.send_s >= 0.0002 * stats.sent
    assert stats.source_s + stats.send_s <= stats.elapsed + 0.01


def test_paced_produce_sends_each_item_as_the_source_makes_it() -> None:
    producer = _Slow()
    produce(_slow_source(20), producer, rate=10_000)
    assert len(producer.keys) == 19 and producer.stats.source_s == 0.0
