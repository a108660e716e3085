"""The pipeline end to end over TLS: a local stack of its own whose Kafka listens with
TLS + SCRAM-SHA-512 and whose PostgreSQL requires TLS, from the CA ``make local-tls``
writes; events produced, landed by a batch cycle, counted by the speed job, served
exactly; the confluent client (KAFKA_CLIENT) sends and reads over it too. A wrong CA or
password fails at start-up with one line naming the setting."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from lambda_common.kafka.broker import sasl_refused
from lambda_common.kafka.factory import open_event_log
from lambda_common.settings import Settings, load_settings
from lambda_common.warehouse import Warehouse
from tests.compose_stack import free_port

from .helpers import REPO, expected_view, view_rows


def _run(env: dict[str, str], *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TlsStack:
    """A private local stack in ``folder`` on free ports, serving TLS."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.password = secrets.token_urlsafe(16)
        kafka, controller, s3, pg = (free_port() for _ in range(4))
        ca = folder / "tls" / "ca.pem"
        tls = f"sslmode=verify-full&sslrootcert={ca}"
        self.plain = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "WAREHOUSE_"))},
            "LOCAL_STACK_DIR": str(folder),
            "KAFKA_BOOTSTRAP_SERVERS": f"localhost:{kafka}",
            "KAFKA_CONTROLLER_PORT": str(controller),
            "S3_ENDPOINT_URL": f"http://localhost:{s3}",
            "WAREHOUSE_DSN": f"postgresql://lambda:lambda-local@localhost:{pg}/lambda",
            "QUERY_DSN": f"postgresql://lambda_reader:lambda-reader-local@localhost:{pg}/lambda",
            "LOG_LEVEL": "WARNING",
        }
        self.env = {
            **self.plain,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SSL_CAFILE": str(ca),
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "lambda",
            "KAFKA_SASL_PASSWORD": self.password,
            "WAREHOUSE_DSN": self.plain["WAREHOUSE_DSN"] + "?" + tls,
            "QUERY_DSN": self.plain["QUERY_DSN"] + "?" + tls,
            "SPEED_CHECKPOINT": str(folder / "checkpoint"),
            # The connector jars make setup fetched for the session's own stack.
            "SPARK_KAFKA_JARS": str(
                load_settings().local_stack_dir.resolve() / "jars" / "spark-kafka"
            ),
            "SPEED_TRIGGER": "1s",
        }

    def settings(self) -> Settings:
        """The same settings in this process (for the test's own reads)."""
        fields = Settings.model_fields
        return load_settings(**{k.lower(): v for k, v in self.env.items() if k.lower() in fields})


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    """One TLS stack for the module's tests (starting one takes half a minute)."""
    stack = TlsStack(tmp_path_factory.mktemp("tls") / "stack")
    made = _run(stack.plain, "local_stack", "tls")
    assert made.returncode == 0, made.stderr
    up = _run(stack.env, "local_stack", "up", timeout=240)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "SASL_SSL" in up.stdout, up.stdout
        yield stack
    finally:
        down = _run(stack.env, "local_stack", "down", timeout=120)
        assert down.returncode == 0, down.stderr


def test_the_pipeline_runs_end_to_end_over_tls(tls_stack: TlsStack, tmp_path: Path) -> None:
    env = tls_stack.env
    for argv in (
        ("lambda_common", "init"),
        # Hours before the current one, so the batch layer serves some of them.
        (
            "ingestion",
            "--count",
            "400",
            "--seed",
            "1812",
            "--duplicates",
            "0.05",
            "--backfill",
            "4h",
        ),
        ("batch_layer", "once"),
        ("ingestion", "--count", "300", "--seed", "1813"),
    ):
        done = _run(env, *argv)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
    settings = tls_stack.settings()
    want = expected_view(settings, datetime.now(UTC), lambda hour: True)
    assert sum(v[0] for v in want.values()) >= 650
    speed = subprocess.Popen(
        [sys.executable, "-m", "speed_layer"],
        cwd=REPO,
        env=env,
        stdout=(tmp_path / "speed.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while view_rows(settings, "serving_view") != want:
            assert speed.poll() is None, (tmp_path / "speed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "speed.log").read_text()[-3000:]
            time.sleep(2)
    finally:
        speed.terminate()
        speed.wait(timeout=120)
    status = _run(env, "serving_layer", "status")
    assert status.returncode == 0, status.stdout
    assert not [line for line in status.stdout.splitlines() if line.startswith("FAIL")]
    with Warehouse(settings, role="reader") as reader:  # both layers serve, over TLS
        ((batch_rows,),) = reader.query("SELECT COUNT(*) FROM batch_view")
    assert batch_rows > 0


def test_the_confluent_client_sends_and_reads_over_sasl_ssl(tls_stack: TlsStack) -> None:
    """KAFKA_CLIENT=confluent: librdkafka's TLS and SCRAM from the same settings."""
    topic = f"tls_confluent_{secrets.token_hex(4)}"
    env = {**tls_stack.env, "KAFKA_CLIENT": "confluent"}
    sent = _run(env, "ingestion", "--count", "200", "--seed", "7", "--topic", topic)
    assert sent.returncode == 0 and "delivered 200" in sent.stderr, sent.stderr[-2000:]
    settings = tls_stack.settings().model_copy(update={"kafka_client": "confluent"})
    with open_event_log(settings, None, client_id="it-tls") as log:
        ends = {p: o.end for p, o in log.offsets(topic, [0, 1, 2]).items()}
        got = [m for p, end in ends.items() if end for m in log.read(topic, p, 0, end - 1)]
    assert len(got) == 200 and all(m.value for m in got)


def test_a_wrong_ca_or_password_fails_naming_the_setting(
    tls_stack: TlsStack, tmp_path: Path
) -> None:
    other = {**tls_stack.plain, "LOCAL_STACK_DIR": str(tmp_path / "other")}
    assert _run(other, "local_stack", "tls").returncode == 0
    wrong_ca = str(tmp_path / "other" / "tls" / "ca.pem")
    cases = {
        "KAFKA_SSL_CAFILE": {"KAFKA_SSL_CAFILE": wrong_ca},
        "KAFKA_SASL_PASSWORD": {"KAFKA_SASL_PASSWORD": "not-the-password"},
        "WAREHOUSE_DSN": {
            "WAREHOUSE_DSN": tls_stack.env["WAREHOUSE_DSN"].replace(
                str(tls_stack.folder / "tls" / "ca.pem"), wrong_ca
            )
        },
    }
    for setting, change in cases.items():
        done = _run({**tls_stack.env, **change}, "lambda_common", "init", "--timeout", "5")
        assert done.returncode != 0, setting
        error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(error) == 1 and setting in error[0], (setting, done.stderr[-2000:])
        assert tls_stack.password not in done.stderr and "not-the-password" not in done.stderr


def test_the_sasl_probe_tells_refused_credentials_from_good_ones(tls_stack: TlsStack) -> None:
    """The librdkafka probe behind the KAFKA_SASL_PASSWORD line: kafka-python can lose the
    broker's refusal in a race, so the answer must not depend on it."""
    good = tls_stack.settings()
    wrong = good.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")})
    assert sasl_refused(wrong, timeout_s=5)
    assert not sasl_refused(good, timeout_s=5)
