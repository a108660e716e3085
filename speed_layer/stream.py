"""What the speed job's streaming query reads and keeps: the Kafka source (brokers, TLS
and SASL in the Java client's terms), the parse step, and the valid events' first copies.

    Kafka --(Spark's Kafka source)--> parse (the contract, mapInArrow) --observe rejects-->
    valid events, with their place in the topic (de-duplicated by the warehouse)
"""

from __future__ import annotations

from typing import Any

from lambda_common.errors import LambdaError
from lambda_common.settings import Settings
from lambda_common.views import HOUR, RELATIONS
from speed_layer.parse import PARSED_BATCH_DDL, parse_batches

QUERY_NAME = "speed_view"


OBSERVED = "speed_input"


MSK_IAM_OPTIONS = {
    "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
    "kafka.sasl.client.callback.handler.class": (
        "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
    ),
}
"""Amazon's IAM login for MSK in the JVM (the ``aws-msk-iam-auth`` jar on the classpath)."""


_SASL_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def _jaas_quoted(value: str) -> str:
    # JAAS values are double-quoted; a backslash escapes within them.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kafka_source_options(settings: Settings) -> dict[str, str]:
    """The Kafka source's connection options: the brokers, and TLS and SASL as the
    settings say, in the Kafka Java client's terms (``kafka.``-prefixed). The CA file is
    read as a PEM trust store; SCRAM and PLAIN credentials travel in the JAAS option,
    which the session redacts from plans and logs (``build_session``). Holds the SASL
    password: do not log."""
    options = {"kafka.bootstrap.servers": settings.kafka_bootstrap_servers}
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return options
    options["kafka.security.protocol"] = protocol
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ssl_cafile is not None:
        options["kafka.ssl.truststore.type"] = "PEM"
        options["kafka.ssl.truststore.location"] = str(settings.kafka_ssl_cafile)
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is not None:
        options["kafka.sasl.mechanism"] = mechanism
    if mechanism == "AWS_MSK_IAM":
        options.update(MSK_IAM_OPTIONS)
    elif mechanism is not None:
        password = settings.kafka_sasl_password
        options["kafka.sasl.jaas.config"] = (
            f"{_SASL_MODULES[mechanism]} required "
            f"username={_jaas_quoted(settings.kafka_sasl_username or '')} "
            f"password={_jaas_quoted(password.get_secret_value() if password else '')};"
        )
    return options


def build_stream(spark: Any, settings: Settings) -> Any:
    """The streaming DataFrame of valid events, with the views' relations' columns and
    each one's Kafka partition and offset: every copy, for the warehouse keeps the first
    of each tweet_id within ``SPEED_RETENTION`` (``speed_layer.view``)."""
    from pyspark.sql import functions as F

    raw = (
        spark.readStream.format("kafka")
        .options(**kafka_source_options(settings))
        .option("subscribe", settings.kafka_topic)
        # Only for the very first start: afterwards the checkpoint's offsets rule.
        .option("startingOffsets", "earliest")
        .load()
    )
    # current_timestamp() is the micro-batch's clock, fixed in the checkpoint: a replayed
    # micro-batch judges "too far in the future" as its first attempt did.
    parsed = raw.select(
        F.col("value"),
        F.unix_micros(F.current_timestamp()).alias("read_at_us"),
        F.col("partition"),
        F.col("offset"),
    ).mapInArrow(parse_batches, PARSED_BATCH_DDL)
    observed = parsed.observe(
        OBSERVED,
        F.count(F.lit(1)).alias("input_rows"),
        F.count(F.col("reject")).alias("rejects"),
        F.max(F.col("created_at_us")).alias("max_created_at_us"),
    )
    # The valid events as they came, copies and late ones included, with their place in
    # the topic: the warehouse de-duplicates them in the micro-batch's transaction
    # (speed_dedup.sql; no state in Spark, so no shuffle and no state store a micro-batch).
    return observed.where(F.col("reject").isNull()).select(
        *(
            F.timestamp_seconds(F.col("event_hour_s")).alias(HOUR) if c == HOUR else c
            for c in RELATIONS["tweets"]
        ),
        "hashtags",
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
    )


class SpeedError(LambdaError):
    """The streaming query stopped with an error."""
