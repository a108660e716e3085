"""The ``stack`` and ``lane`` fixtures: real Kafka, PostgreSQL and S3 for the integration
and chaos tests (imported by ``tests/conftest.py``).

Where the services come from, in order:
1. ``LAMBDA_TEST_STACK=external``: the settings in the environment / ``.env`` as given
   (a stack you started yourself, or real AWS);
2. testcontainers, when a Docker engine answers (``LAMBDA_TEST_STACK=docker`` insists);
3. the local stack (``make local-up``), started if needed and stopped again afterwards
   if this session started it (``LAMBDA_TEST_STACK=local`` insists).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from lambda_common.broker import check_broker, ensure_topic
from lambda_common.errors import LambdaError
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings, load_settings
from lambda_common.warehouse import Warehouse
from local_stack.stack import LocalStack
from tests.integration.helpers import Lane

logger = logging.getLogger(__name__)


@dataclass
class StackHandle:
    """What integration tests get: settings pointing at live services."""

    kind: str
    settings: Settings
    local: LocalStack | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list)

    def restart(self, service: str) -> None:
        """Stop and start one service (kafka, postgres or s3) of the local stack."""
        if self.local is None:
            pytest.skip(f"restarting {service} needs the local stack, not {self.kind}")
        self.local.restart(service)

    def outage(self, service: str, seconds: float) -> None:
        """Stop one service of the local stack, keep it down ``seconds``, start it again
        (waiting until it is healthy)."""
        if self.local is None:
            pytest.skip(f"stopping {service} needs the local stack, not {self.kind}")
        self.local.down([service])
        time.sleep(seconds)
        self.local.up([service])

    def unique(self, prefix: str) -> str:
        """A name no other test (or earlier run) uses: topics, tables, key prefixes."""
        return f"{prefix}_{int(time.time())}_{secrets.token_hex(3)}"


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # no engine, no socket, no permission: all mean "not here"
        return False


def _testcontainers_stack(resources: ExitStack) -> Settings:
    from testcontainers.community.kafka import KafkaContainer
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.container import DockerContainer

    kafka = resources.enter_context(KafkaContainer().with_kraft())
    pg = resources.enter_context(
        PostgresContainer("postgres:15", username="lambda", password="lambda-test", dbname="lambda")
    )
    minio = resources.enter_context(
        DockerContainer("minio/minio:latest")
        .with_env("MINIO_ROOT_USER", "lambda-local")
        .with_env("MINIO_ROOT_PASSWORD", "lambda-local-secret")
        .with_command("server /data")
        .with_exposed_ports(9000)
    )
    settings = load_settings(
        kafka_bootstrap_servers=kafka.get_bootstrap_server(),
        warehouse_dsn=pg.get_connection_url(driver=None),
        s3_endpoint_url=f"http://{minio.get_container_host_ip()}:{minio.get_exposed_port(9000)}",
        aws_access_key_id="lambda-local",
        aws_secret_access_key="lambda-local-secret",
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            S3ObjectStore(settings).ensure_bucket()
            break
        except LambdaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    return settings


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    mode = os.environ.get("LAMBDA_TEST_STACK", "auto")
    if mode not in ("auto", "external", "docker", "local"):
        raise pytest.UsageError("LAMBDA_TEST_STACK must be auto, external, docker or local")
    with ExitStack() as resources:
        if mode == "external":
            settings = load_settings()
            handle = StackHandle("external", settings)
        elif mode == "docker" or (mode == "auto" and _docker_reachable()):
            handle = StackHandle("testcontainers", _testcontainers_stack(resources))
        else:
            settings = load_settings()
            local = LocalStack(settings)
            was_running = {st.name for st in local.status() if st.pid is not None}
            for line in local.up():
                logger.info("local stack: %s", line)
            started = [name for name in local.services if name not in was_running]
            if started:
                # Leave the machine as we found it: stop only what this session started.
                resources.callback(local.down, started)
            handle = StackHandle("local", settings, local)
        # Fail here, once, with a clear message, rather than in every test.
        check_broker(handle.settings)
        S3ObjectStore(handle.settings).ensure_bucket()
        with Warehouse(handle.settings) as wh:
            wh.check()
        yield handle


@pytest.fixture
def lane(stack: StackHandle) -> Iterator[Lane]:
    """A private topic (3 partitions) and warehouse schema, dropped afterwards."""
    topic = stack.unique("it_lane")
    schema = topic
    with Warehouse(stack.settings) as wh:
        wh.execute(f'CREATE SCHEMA "{schema}"')
    settings = stack.settings.in_schema(schema, topic=topic)
    ensure_topic(settings, topic, partitions=3)
    yield Lane(settings, schema)
    with Warehouse(stack.settings) as wh:
        wh.execute(f'DROP SCHEMA "{schema}" CASCADE')
