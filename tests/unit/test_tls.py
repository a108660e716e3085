"""TLS and SASL by configuration (issue 18): for Kafka, the settings' rules and the
kafka-python, librdkafka and Spark source options they become; for the warehouse,
verified TLS from the DSN (Redshift's by default); secrets kept out of every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_common.errors import ConfigError
from lambda_common.kafka.broker import (
    client_config,
    confluent_security_config,
    sasl_refused,
    security_config,
)
from lambda_common.settings import load_settings
from speed_layer.stream import MSK_IAM_OPTIONS, kafka_source_options

# Settings from their defaults and what each test gives: no developer .env or exported one.
pytestmark = pytest.mark.usefixtures("clean_env")

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
    # KAFKA_CLIENT=confluent: the same, in librdkafka's names.
    assert confluent_security_config(settings) == {
        "security.protocol": "sasl_ssl",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(cafile),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "lambda",
        "sasl.password": SECRET,
    }
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
    # librdkafka's wheel has an OpenSSL of its own: "probe" finds the system's CAs.
    assert confluent_security_config(settings) == {
        "security.protocol": "ssl",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": "probe",
    }
    assert "kafka.ssl.truststore.location" not in kafka_source_options(settings)


def test_msk_iam() -> None:
    settings = load_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="AWS_MSK_IAM")
    assert security_config(settings)["sasl_mechanism"] == "AWS_MSK_IAM"
    assert "sasl_plain_password" not in security_config(settings)
    spark = kafka_source_options(settings)
    assert spark["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert {k: spark[k] for k in MSK_IAM_OPTIONS} == MSK_IAM_OPTIONS


def test_the_sasl_probe_asks_nothing_without_a_password_mechanism() -> None:
    """No SASL, or IAM (which librdkafka lacks): no probe, so no claim about credentials
    (the bootstrap server here does not exist; a probe would have to wait for it)."""
    nowhere = {"kafka_bootstrap_servers": "localhost:1"}
    assert not sasl_refused(load_settings(**nowhere))
    iam = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "AWS_MSK_IAM"}
    assert not sasl_refused(load_settings(**nowhere, **iam))


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


# The local stack's TLS mode ----------------------------------------------------------------


def test_the_local_stacks_certificates(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from local_stack.tls import ensure_certificates

    settings = load_settings(local_stack_dir=str(tmp_path))
    files = ensure_certificates(settings)
    assert files.exist() and files.folder == tmp_path.resolve() / "tls"
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    server, chained_ca = x509.load_pem_x509_certificates(files.cert.read_bytes())
    assert chained_ca == ca
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    server.verify_directly_issued_by(ca)  # raises unless the CA signed it
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for secret in (files.key, files.keystore):
        assert secret.stat().st_mode & 0o777 == 0o600
    assert not list(files.folder.glob("*ca-key*"))  # the CA's key is not kept
    before = files.ca.read_bytes()
    assert ensure_certificates(settings).ca.read_bytes() == before  # written once


def test_the_local_kafka_serves_the_settings_tls(tmp_path: Path) -> None:
    from local_stack.kafka_node import KafkaService
    from local_stack.tls import ensure_certificates

    plain = load_settings(local_stack_dir=str(tmp_path))
    files = ensure_certificates(plain)
    settings = load_settings(
        local_stack_dir=str(tmp_path),
        kafka_security_protocol="SASL_SSL",
        kafka_ssl_cafile=str(files.ca),
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="lambda",
        kafka_sasl_password=SECRET,
    )
    kafka = KafkaService(settings, tmp_path.resolve())
    kafka.home.mkdir(parents=True, exist_ok=True)
    props = kafka.listener_properties()
    internal = kafka.internal_port()
    assert internal is not None
    assert props["listeners"].startswith("SASL_SSL://localhost:9092,")
    assert f"BROKER://127.0.0.1:{internal}" in props["listeners"]
    assert props["inter.broker.listener.name"] == "BROKER"
    assert props["ssl.keystore.location"] == str(files.keystore)
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert SECRET not in "".join(props.values())  # the credential lives in the metadata


def test_the_local_stack_needs_its_certificates_first(tmp_path: Path, cafile: Path) -> None:
    from lambda_common.errors import StackError
    from local_stack.kafka_node import KafkaService

    settings = load_settings(
        local_stack_dir=str(tmp_path), kafka_security_protocol="SSL", kafka_ssl_cafile=str(cafile)
    )
    kafka = KafkaService(settings, tmp_path.resolve())
    with pytest.raises(StackError, match="run make local-tls first"):
        kafka.listener_properties()
