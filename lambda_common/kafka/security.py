"""The rules Kafka's TLS and SASL settings keep together (``KAFKA_SECURITY_PROTOCOL``,
``KAFKA_SSL_CAFILE``, ``KAFKA_SASL_*``, ``KAFKA_CLIENT``), checked when the settings are
built: a combination no client could connect with fails at start, naming the setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambda_common.settings import Settings


def check_kafka_security(settings: Settings) -> None:
    """``ValueError`` opening with the setting to change, for the first rule broken."""
    # Each rule names the setting to change; pydantic reports the model as a whole,
    # so the message carries the name (load_settings shows it as it is).
    tls = settings.kafka_security_protocol in ("SSL", "SASL_SSL")
    sasl = settings.kafka_security_protocol.startswith("SASL_")
    mechanism = settings.kafka_sasl_mechanism
    if settings.kafka_ssl_cafile is not None and not tls:
        raise ValueError(
            "KAFKA_SSL_CAFILE: is only used with KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL"
        )
    if sasl and mechanism is None:
        raise ValueError(
            f"KAFKA_SASL_MECHANISM: must be set with KAFKA_SECURITY_PROTOCOL "
            f"{settings.kafka_security_protocol}"
        )
    if not sasl and mechanism is not None:
        raise ValueError(
            "KAFKA_SASL_MECHANISM: needs KAFKA_SECURITY_PROTOCOL SASL_SSL or SASL_PLAINTEXT"
        )
    if mechanism == "AWS_MSK_IAM" and settings.kafka_security_protocol != "SASL_SSL":
        raise ValueError("KAFKA_SASL_MECHANISM: AWS_MSK_IAM needs KAFKA_SECURITY_PROTOCOL SASL_SSL")
    if mechanism == "AWS_MSK_IAM" and settings.kafka_client == "confluent":
        # librdkafka has no AWS_MSK_IAM mechanism (MSK's IAM auth there is OAUTHBEARER
        # with a token signer of its own): not wired here.
        raise ValueError(
            "KAFKA_SASL_MECHANISM: AWS_MSK_IAM needs KAFKA_CLIENT=kafka-python "
            "(KAFKA_CLIENT=confluent supports PLAIN and SCRAM only)"
        )
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512") and (
        not settings.kafka_sasl_username or settings.kafka_sasl_password is None
    ):
        raise ValueError(
            f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD: both needed for {mechanism}"
        )
