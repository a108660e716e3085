"""The one place the batch layer's Kafka client is chosen (``KAFKA_CLIENT``): the event
log's port (:mod:`lambda_common.kafka.eventlog`) and its two clients never import each other
to build one."""

from __future__ import annotations

from lambda_common.kafka.eventlog import EventLog, KafkaEventLog
from lambda_common.settings import Settings

__all__ = ["open_event_log"]


def open_event_log(settings: Settings, group: str | None, *, client_id: str) -> EventLog:
    """The real event log of ``KAFKA_CLIENT`` (``group=None``: read only, for landing
    workers)."""
    if settings.kafka_client == "confluent":
        # Imported here: confluent-kafka is loaded only by those who chose it.
        from lambda_common.kafka.eventlog_confluent import ConfluentEventLog

        return ConfluentEventLog(settings, group, client_id=client_id)
    return KafkaEventLog(settings, group, client_id=client_id)
