"""Thin Kafka wiring shared by the layers: client configuration, health check, topics.

kafka-python errors are mapped to ``ServiceUnavailable`` here so callers and CLIs see one
clear line ("Kafka at localhost:9092 is unreachable ...") instead of a vendor traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lambda_common.errors import ConfigError, ServiceUnavailable
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

# The consumer group whose committed offsets are the batch layer's progress: the batch
# layer commits them, ``make status`` reads them to report the lag.
BATCH_GROUP_ID = "lambda-batch-layer"


def client_config(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Connection options common to producers, consumers and admin clients."""
    timeout_ms = int(timeout_s * 1000)
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "request_timeout_ms": max(timeout_ms, 5000),
        # Bounds the wait for a broker that is down (kafka-python's default is 30 s).
        "bootstrap_timeout_ms": timeout_ms,
    }


def admin_client(settings: Settings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    """An admin client, or ``ServiceUnavailable`` naming the bootstrap servers."""
    try:
        return KafkaAdminClient(
            client_id="lambda-admin", **client_config(settings, timeout_s=timeout_s)
        )
    except (KafkaError, OSError) as e:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka_bootstrap_servers} is unreachable ({type(e).__name__}): "
            "is the broker running? (make local-status)"
        ) from e


def check_broker(settings: Settings, *, timeout_s: float = 10.0) -> int:
    """Return the number of live brokers, or raise ``ServiceUnavailable``."""
    admin = admin_client(settings, timeout_s=timeout_s)
    try:
        cluster = admin.describe_cluster()
        return len(cluster.get("brokers", []))
    except KafkaError as e:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e
    finally:
        admin.close()


def topic_durability(settings: Settings, live_brokers: int) -> tuple[int, int]:
    """The replication factor and ``min.insync.replicas`` of a topic created now, with
    ``live_brokers`` brokers up: the settings, or (unset) ``min(3, brokers)`` and one less
    than that but at least 1. A factor the cluster cannot hold is ``ServiceUnavailable``
    (a broker may still be starting); a minimum above the factor is ``ConfigError``."""
    if live_brokers < 1:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: no live broker")
    factor = settings.kafka_replication_factor or min(3, live_brokers)
    if factor > live_brokers:
        raise ServiceUnavailable(
            f"KAFKA_REPLICATION_FACTOR={factor} needs {factor} live brokers; Kafka at "
            f"{settings.kafka_bootstrap_servers} has {live_brokers}"
        )
    min_isr = settings.kafka_min_insync_replicas or max(1, factor - 1)
    if min_isr > factor:
        # Only reachable with the factor derived: load_settings checks two given values.
        raise ConfigError(
            f"invalid setting KAFKA_MIN_INSYNC_REPLICAS: {min_isr} exceeds the replication "
            f"factor {factor} ({live_brokers} live broker(s), KAFKA_REPLICATION_FACTOR unset): "
            "no write could ever be acknowledged"
        )
    return factor, min_isr


def ensure_topic(
    settings: Settings,
    topic: str | None = None,
    *,
    partitions: int | None = None,
) -> bool:
    """Create the topic if it is missing; return True when it was created.

    Its replication factor and ``min.insync.replicas`` come from ``topic_durability``.
    An existing topic is left as it is (its partition count is not changed: that would
    move keys between partitions and break per-key ordering).
    """
    name = topic or settings.kafka_topic
    count = partitions or settings.kafka_topic_partitions
    admin = admin_client(settings)
    try:
        if name in admin.list_topics():
            return False
        brokers = len(admin.describe_cluster().get("brokers", []))
        factor, min_isr = topic_durability(settings, brokers)
        admin.create_topics(
            [
                NewTopic(
                    name,
                    count,
                    factor,
                    topic_configs={"min.insync.replicas": str(min_isr)},
                )
            ]
        )
        logger.info(
            "created Kafka topic %s (%s partitions, replication factor %s, min.insync.replicas %s)",
            name,
            count,
            factor,
            min_isr,
        )
        return True
    except TopicAlreadyExistsError:
        return False  # created concurrently by another process: fine
    except KafkaError as e:
        raise ServiceUnavailable(f"cannot create Kafka topic {name!r}: {e}") from e
    finally:
        admin.close()


def end_offsets(settings: Settings, topic: str | None = None) -> dict[int, int]:
    """Each partition's end offset (the offset the next message will get), without joining
    any consumer group; ``ServiceUnavailable`` if the broker cannot be asked."""
    name = topic or settings.kafka_topic
    try:
        consumer = KafkaConsumer(enable_auto_commit=False, **client_config(settings))
    except KafkaError as e:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        ends = consumer.end_offsets([TopicPartition(name, p) for p in sorted(partitions)])
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    except KafkaError as e:
        raise ServiceUnavailable(f"Kafka at {settings.kafka_bootstrap_servers}: {e}") from e
    finally:
        consumer.close()
