"""Thin Kafka wiring shared by the layers: client configuration, health check, topics.

kafka-python errors are mapped to ``ServiceUnavailable`` here so callers and CLIs see one
clear line ("Kafka at localhost:9092 is unreachable ...") instead of a vendor traceback.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, SaslAuthenticationFailedError, TopicAlreadyExistsError

from lambda_common.errors import ConfigError, ServiceUnavailable
from lambda_common.retry import Backoff, Sleep, retry_call
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

# The consumer group whose committed offsets are the batch layer's progress: the batch
# layer commits them, ``make status`` reads them to report the lag.
BATCH_GROUP_ID = "lambda-batch-layer"

# How long a topic just created may take to reach the brokers' metadata; milliseconds on a
# healthy cluster, so the bound only names a cluster whose brokers cannot follow.
TOPIC_READY_TIMEOUT_S = 30.0
_TOPIC_READY_BACKOFF = Backoff(first_s=0.05, cap_s=1.0)


def client_config(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """Connection options common to producers, consumers and admin clients: the brokers,
    timeouts, and TLS and SASL as the settings say (holds the SASL password: do not log)."""
    timeout_ms = int(timeout_s * 1000)
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "request_timeout_ms": max(timeout_ms, 5000),
        # Bounds the wait for a broker that is down (kafka-python's default is 30 s).
        "bootstrap_timeout_ms": timeout_ms,
        **security_config(settings),
    }


def security_config(settings: Settings) -> dict[str, Any]:
    """kafka-python's TLS and SASL options for the settings (none for PLAINTEXT).

    TLS verifies the brokers' certificates and host names against KAFKA_SSL_CAFILE (the
    system's CAs when unset). SCRAM and PLAIN send KAFKA_SASL_USERNAME/_PASSWORD;
    AWS_MSK_IAM signs with the AWS credentials botocore finds (kafka-python's own
    mechanism), as Amazon MSK's IAM access control expects.
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_check_hostname"] = True
        if settings.kafka_ssl_cafile is not None:
            options["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return options | _sasl_options(
        settings, ("sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
    )


def _sasl_options(settings: Settings, names: tuple[str, str, str]) -> dict[str, Any]:
    """The SASL mechanism, user and password the settings give (those set), under a
    client's ``names`` for them."""
    password = settings.kafka_sasl_password
    values = (
        settings.kafka_sasl_mechanism,
        settings.kafka_sasl_username,
        password.get_secret_value() if password is not None else None,
    )
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}


def confluent_config(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """``client_config`` for confluent-kafka (librdkafka's names): the brokers, the same
    timeouts, TLS and SASL, and librdkafka's log lines into Python logging (served by
    the client's poll/consume calls) instead of raw stderr. Holds the SASL password: do
    not log."""
    timeout_ms = int(timeout_s * 1000)
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "socket.timeout.ms": max(timeout_ms, 5000),
        "socket.connection.setup.timeout.ms": timeout_ms,
        "logger": logging.getLogger(f"{__name__}.librdkafka"),
        **confluent_security_config(settings),
    }


def confluent_security_config(settings: Settings) -> dict[str, Any]:
    """``security_config`` in librdkafka's names (none for PLAINTEXT): the same trust
    (certificates and host names verified) and the same SASL credentials.

    AWS_MSK_IAM is kafka-python's own mechanism; librdkafka has none of that name, so the
    settings refuse it with KAFKA_CLIENT=confluent (checked again here).
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    if settings.kafka_sasl_mechanism == "AWS_MSK_IAM":
        raise ConfigError(
            "invalid setting KAFKA_SASL_MECHANISM: AWS_MSK_IAM needs KAFKA_CLIENT=kafka-python"
        )
    options: dict[str, Any] = {"security.protocol": protocol.lower()}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl.endpoint.identification.algorithm"] = "https"
        # Unset: the system's CAs. librdkafka's wheel bundles its own OpenSSL, whose
        # built-in CA path is not this system's: "probe" finds the system's bundle.
        options["ssl.ca.location"] = (
            str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile is not None else "probe"
        )
    return options | _sasl_options(settings, ("sasl.mechanism", "sasl.username", "sasl.password"))


def admin_client(settings: Settings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    """An admin client, or ``ServiceUnavailable`` naming the bootstrap servers (and the
    setting to fix, when TLS or SASL is what failed)."""
    refused = _AuthFailures()
    kafka_logger = logging.getLogger("kafka")
    kafka_logger.addHandler(refused)
    try:
        return KafkaAdminClient(
            client_id="lambda-admin", **client_config(settings, timeout_s=timeout_s)
        )
    except (KafkaError, OSError) as e:
        if (
            refused.seen
            or isinstance(e, SaslAuthenticationFailedError)
            or sasl_refused(settings, timeout_s=timeout_s)
        ):
            raise ServiceUnavailable(
                f"Kafka at {settings.kafka_bootstrap_servers} refused the credentials "
                f"({settings.kafka_sasl_mechanism}): check KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            ) from e
        why = tls_failure(settings, timeout_s=timeout_s)
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka_bootstrap_servers} is unreachable ({type(e).__name__}): "
            + (why or "is the broker running? (make local-status)")
        ) from e
    finally:
        kafka_logger.removeHandler(refused)


class _AuthFailures(logging.Handler):
    """Notes a SASL authentication failure that kafka-python only logs (its bootstrap
    then times out, and the error it raises says nothing about the credentials)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        failure = record.exc_info[1] if record.exc_info else None
        if isinstance(failure, SaslAuthenticationFailedError) or (
            "SaslAuthenticationFailedError" in record.getMessage()
        ):
            self.seen = True


def sasl_refused(settings: Settings, *, timeout_s: float = 10.0) -> bool:
    """Whether the brokers refuse the SASL credentials, asked again through librdkafka.

    kafka-python can lose the broker's authentication-failure response when the broker
    closes the connection right behind it (the bytes and the end of stream arrive in one
    read, and the read reports only the disconnect), leaving a bootstrap timeout that
    says nothing about the credentials. librdkafka reports the refusal as its own error
    code. PLAIN and SCRAM only: librdkafka has no AWS_MSK_IAM (signing is AWS's side).
    """
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is None or mechanism == "AWS_MSK_IAM":
        return False
    from confluent_kafka import KafkaError as RdKafkaError
    from confluent_kafka import KafkaException as RdKafkaException
    from confluent_kafka.admin import AdminClient

    server = settings.kafka_servers[0]
    try:  # a broker that is down: nothing to ask, and no second wait for it
        socket.create_connection((server.host, server.port), timeout=timeout_s).close()
    except OSError:
        return False
    refused: list[bool] = []

    def on_error(error: RdKafkaError) -> None:
        if error.code() == RdKafkaError._AUTHENTICATION:
            refused.append(True)

    config = confluent_config(settings, timeout_s=timeout_s) | {"error_cb": on_error}
    admin = AdminClient(config)
    try:
        admin.list_topics(timeout=timeout_s)
    except RdKafkaException as e:
        on_error(e.args[0])
    admin.poll(0)  # serves error_cb
    return bool(refused)


def tls_failure(settings: Settings, *, timeout_s: float = 10.0) -> str | None:
    """Why a TLS connection to the first bootstrap server fails, naming the setting to
    fix; None when TLS is off, succeeds, or the server does not answer at all (a broker
    that is down: nothing to say about TLS). kafka-python only reports that no broker
    was available, so the handshake is repeated here with the same trust."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    server = settings.kafka_servers[0]
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    try:
        with (
            socket.create_connection((server.host, server.port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=server.host),
        ):
            return None
    except ssl.SSLCertVerificationError as e:
        trust = (
            f"KAFKA_SSL_CAFILE ({settings.kafka_ssl_cafile})"
            if settings.kafka_ssl_cafile
            else "the system's CAs (set KAFKA_SSL_CAFILE)"
        )
        return f"its TLS certificate does not verify against {trust}: {e.verify_message}"
    except ssl.SSLError as e:
        return f"TLS handshake failed ({e.reason}): is KAFKA_SECURITY_PROTOCOL right?"
    except OSError:
        return None


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
        wait_for_partitions(admin, name, count)
        return True
    except TopicAlreadyExistsError:
        return False  # created concurrently by another process: fine
    except KafkaError as e:
        raise ServiceUnavailable(f"cannot create Kafka topic {name!r}: {e}") from e
    finally:
        admin.close()


class _TopicNotReady(Exception):
    """The broker asked does not list every partition of the topic with a leader yet."""


def wait_for_partitions(
    admin: Any,
    topic: str,
    count: int,
    *,
    timeout_s: float = TOPIC_READY_TIMEOUT_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep | None = None,
) -> dict[str, Any]:
    """The topic's description once the broker ``admin`` asks lists ``topic`` with
    ``count`` partitions, each with a leader; ``ServiceUnavailable`` if it does not
    within ``timeout_s``.

    CreateTopics returns once the controller has recorded the topic; each broker learns
    it from the metadata log a moment later. Until then a describe or a list of offsets
    sent to a broker that lags sees no partitions at all, so whoever just created the
    topic waits here before anyone reads it.
    """

    def described() -> dict[str, Any]:
        (description,) = admin.describe_topics([topic])
        partitions = description.get("partitions") or []
        if (
            description.get("error_code")
            or len(partitions) != count
            or any(p.get("leader_id", -1) < 0 for p in partitions)
        ):
            raise _TopicNotReady("not yet in the brokers' metadata")
        return dict(description)

    try:
        return retry_call(
            described,
            retry_on=_TopicNotReady,
            backoff=_TOPIC_READY_BACKOFF,
            what=f"Kafka topic {topic}",
            deadline=clock() + timeout_s,
            clock=clock,
            sleep=sleep,
            log_level=logging.DEBUG,  # expected for a moment after every creation
        )
    except _TopicNotReady as e:
        raise ServiceUnavailable(
            f"Kafka topic {topic!r} was created but its {count} partitions had no "
            f"leaders after {timeout_s:.0f} s"
        ) from e


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
