"""TLS and SASL by configuration (issue 18): for Kafka, the settings' rules and the
kafka-python and Spark source options they become; for the warehouse, verified TLS from
the DSN (Redshift's by default); secrets kept out of every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common.broker import client_config, security_config
from lambda_common.errors import ConfigError
from lambda_common.settings import load_settings
from speed_layer.job import MSK_IAM_OPTIONS, kafka_source_options

SECRET = 'pa"ss\\word-7781'


@pytest.fixture
def cafile(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return path


def test_plaintext_adds_nothing() -> None:
    settings = load_settings()
    assert security_config(settings) == {}
    assert kafka_source_options(settings) == {"kafka.bootstrap.servers": "localhost:9092"}


def test_scram_over_tls(cafile: Path) -> None:
    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=str(cafile),
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="lambda",
        kafka_sasl_password=SECRET,
    )
    assert security_config(settings) == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(cafile),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "lambda",
        "sasl_plain_password": SECRET,
    }
    assert client_config(settings)["security_protocol"] == "SASL_SSL"
    spark = kafka_source_options(settings)
    assert spark["kafka.security.protocol"] == "SASL_SSL"
    assert spark["kafka.ssl.truststore.type"] == "PEM"
    assert spark["kafka.ssl.truststore.location"] == str(cafile)
    assert spark["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    # The password's quote and backslash are escaped for the JAAS parser.
    assert spark["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="lambda" password="pa\\"ss\\\\word-7781";'
    )
    assert SECRET not in repr(settings) and SECRET not in str(dict(settings.describe()))


def test_tls_only_with_system_cas() -> None:
    settings = load_settings(kafka_security_protocol="SSL")
    assert security_config(settings) == {"security_protocol": "SSL", "ssl_check_hostname": True}
    assert "kafka.ssl.truststore.location" not in kafka_source_options(settings)


def test_msk_iam() -> None:
    settings = load_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="AWS_MSK_IAM")
    assert security_config(settings)["sasl_mechanism"] == "AWS_MSK_IAM"
    assert "sasl_plain_password" not in security_config(settings)
    spark = kafka_source_options(settings)
    assert spark["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert {k: spark[k] for k in MSK_IAM_OPTIONS} == MSK_IAM_OPTIONS


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
        ({"kafka_sasl_mechanism": "PLAIN"}, "KAFKA_SASL_MECHANISM"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "AWS_MSK_IAM"},
            "KAFKA_SASL_MECHANISM",
        ),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "SCRAM-SHA-256",
                "kafka_sasl_password": SECRET,
            },
            "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_ssl_cafile": "/no/such/ca.pem", "kafka_security_protocol": "SSL"},
            "KAFKA_SSL_CAFILE",
        ),
        ({"kafka_security_protocol": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_wrong_settings_fail_naming_the_setting(given: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=f"^invalid setting {named}: ") as failed:
        load_settings(**given)
    assert SECRET not in str(failed.value)


def test_a_ca_file_without_tls_is_refused(cafile: Path) -> None:
    with pytest.raises(ConfigError, match="invalid setting KAFKA_SSL_CAFILE: is only used"):
        load_settings(kafka_ssl_cafile=str(cafile))


# The warehouse ---------------------------------------------------------------------------


def test_redshift_is_verified_by_default() -> None:
    settings = load_settings(
        warehouse_dialect="redshift",
        warehouse_dsn="postgresql://lambda:pw@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
    )
    params = dict(settings.warehouse.params)
    assert params == {"sslmode": "verify-full", "sslrootcert": "system"}
    assert settings.warehouse.libpq_environment()["PGSSLMODE"] == "verify-full"
    assert dict(settings.query.params)["sslmode"] == "verify-full"


def test_a_given_sslmode_is_kept(cafile: Path) -> None:
    dsn = f"postgresql://lambda:pw@db:5432/lambda?sslmode=verify-full&sslrootcert={cafile}"
    for dialect in ("postgres", "redshift"):
        settings = load_settings(warehouse_dialect=dialect, warehouse_dsn=dsn)
        assert dict(settings.warehouse.params) == {
            "sslmode": "verify-full",
            "sslrootcert": str(cafile),
        }
    assert load_settings().warehouse.params == ()  # the local stack's PostgreSQL: as given


@pytest.mark.parametrize(
    ("query", "why"),
    [
        (
            "sslmode=verify-full&sslrootcert=/no/such/ca.pem",
            "sslrootcert '/no/such/ca.pem' is not a file",
        ),
        ("sslmode=verify-ca", "sslmode=verify-ca needs sslrootcert="),
    ],
)
def test_a_bad_tls_dsn_fails_naming_the_setting(query: str, why: str) -> None:
    dsn = f"postgresql://lambda:{SECRET}@db:5432/lambda?{query}"
    for name in ("warehouse_dsn", "query_dsn"):
        with pytest.raises(ConfigError, match=f"invalid setting {name.upper()}: {why}") as failed:
            load_settings(**{name: dsn})
        assert SECRET not in str(failed.value)
