"""The one place the producers' Kafka client is chosen (``KAFKA_CLIENT``): the base
module and its two clients never import each other to build one."""

from __future__ import annotations

from ingestion.producer import EventProducer, KafkaPythonProducer
from lambda_common.settings import Settings

__all__ = ["open_producer"]


def open_producer(
    settings: Settings, topic: str | None = None, *, timeout_s: float = 10.0
) -> EventProducer:
    """The producer of ``KAFKA_CLIENT``, kafka-python's or confluent-kafka's."""
    if settings.kafka_client == "confluent":
        # Imported here: confluent-kafka is loaded only by those who chose it.
        from ingestion.producer_confluent import ConfluentProducer

        return ConfluentProducer(settings, topic, timeout_s=timeout_s)
    return KafkaPythonProducer(settings, topic, timeout_s=timeout_s)
