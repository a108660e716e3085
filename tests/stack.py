"""The ``stack`` and ``lane`` fixtures: real Kafka, PostgreSQL and S3 for the integration
and chaos tests (imported by ``tests/conftest.py``).

Where the services come from (``LAMBDA_TEST_STACK``):
- ``local`` (the default): the local stack (``make local-up``), started if needed and
  stopped again afterwards if this session started it;
- ``docker``: the infrastructure of the project's own Compose stack (kafka, s3, postgres,
  built from ``debian:bookworm-slim``), a Compose project of its own on free ports, brought
  up with testcontainers and removed with its volumes afterwards;
- ``external``: the settings in the environment / ``.env`` as given (a stack you started
  yourself, or real AWS).
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

from lambda_common.kafka.broker import check_broker, ensure_topic
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


def _compose_stack(resources: ExitStack) -> Settings:
    from tests.compose_stack import ComposeStack, docker_unavailable

    reason = docker_unavailable()
    if reason:
        raise pytest.UsageError(f"LAMBDA_TEST_STACK=docker: {reason}")
    compose = ComposeStack(project=f"lambda-tweets-it-{int(time.time())}")
    resources.enter_context(compose.environ())
    resources.callback(compose.down, volumes=True)
    compose.compose(["kafka", "s3", "postgres"]).start()
    return compose.host_settings()


@pytest.fixture(scope="session")
def stack() -> Iterator[StackHandle]:
    mode = os.environ.get("LAMBDA_TEST_STACK", "local")
    if mode not in ("external", "docker", "local"):
        raise pytest.UsageError("LAMBDA_TEST_STACK must be local, docker or external")
    with ExitStack() as resources:
        if mode == "external":
            settings = load_settings()
            handle = StackHandle("external", settings)
        elif mode == "docker":
            handle = StackHandle("docker", _compose_stack(resources))
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
