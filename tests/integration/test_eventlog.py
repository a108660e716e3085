"""The batch layer's Kafka port (``EventLog``) on the real broker, under each
``KAFKA_CLIENT``: the same answers, and every failure as the same project error."""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition

from lambda_common.errors import ServiceUnavailable
from lambda_common.kafka.broker import BATCH_GROUP_ID, admin_client
from lambda_common.kafka.eventlog import Offsets, OffsetsGone, TopicMissing
from lambda_common.kafka.factory import open_event_log

from .helpers import KAFKA_CLIENTS, Lane, send_raw

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("client", KAFKA_CLIENTS)
def test_the_event_log_reads_commits_and_maps_every_failure(lane: Lane, client: str) -> None:
    settings = lane.with_client(client).settings
    topic = settings.kafka_topic
    # Keys that land on partition 0 of 3 (murmur2), so offsets are known.
    send_raw(settings, [(b"k0", f"v{i}".encode()) for i in range(20)])
    with open_event_log(settings, BATCH_GROUP_ID, client_id="it-eventlog") as log:
        info = log.describe(topic)
        assert info.partitions == (0, 1, 2) and info.topic_id
        offsets = log.offsets(topic, [0, 1, 2])
        (part,) = [p for p, o in offsets.items() if o.end == 20]
        assert offsets[part] == Offsets(0, 20, None)

        got = list(log.read(topic, part, 5, 9))
        assert [(m.offset, m.value) for m in got] == [(o, f"v{o}".encode()) for o in range(5, 10)]
        assert all(m.timestamp_ms > 1_700_000_000_000 for m in got)

        log.commit(topic, {part: 12})
        assert log.offsets(topic, [part])[part].committed == 12
        log.forget(topic, [part])
        assert log.offsets(topic, [part])[part].committed is None

        # Past the end: no record comes, and the read gives up after its stall deadline.
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match=r"no record of .* for 2s"):
            list(log.read(topic, part, 18, 25, stall_s=2))
        assert time.monotonic() - started < 15

        # Retention moved the log start past the range: gone, never a jump or a hang.
        admin = admin_client(settings)
        try:
            admin.delete_records({TopicPartition(topic, part): 10})
        finally:
            admin.close()
        assert log.offsets(topic, [part])[part].beginning == 10
        with pytest.raises(OffsetsGone, match=r"offsets 2\.\.7 of .* are no longer"):
            list(log.read(topic, part, 2, 7))
        # And the log still reads what is there after that error.
        assert [m.offset for m in log.read(topic, part, 10, 11)] == [10, 11]

        with pytest.raises(TopicMissing):
            log.describe(f"{topic}_missing")

    with open_event_log(settings, None, client_id="it-eventlog-ro") as reader:
        assert [m.offset for m in reader.read(topic, part, 15, 19)] == list(range(15, 20))
        with pytest.raises(RuntimeError, match="read-only"):
            reader.commit(topic, {part: 1})
