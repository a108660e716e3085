"""The project's own Docker Compose stack, driven from tests with testcontainers'
``DockerCompose``: the Docker end-to-end test (tests/docker) and the integration tests'
``LAMBDA_TEST_STACK=docker`` mode use it.

Each use is a Compose project of its own (its own containers, network and volumes) on free
host ports, with a random warehouse password, so it never touches a stack that ``make up``
started nor the local stack's ports. Nothing is pulled: the image is built from
``debian:bookworm-slim``, which ``docker/prepare.sh`` makes available first.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from testcontainers.compose import DockerCompose

from lambda_common.settings import Settings, load_settings
from local_stack.process import free_ports

ROOT = Path(__file__).resolve().parents[1]
PREPARE = ROOT / "docker" / "prepare.sh"
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def docker_unavailable() -> str | None:
    """Make the Docker path ready (engine, Compose v2, base image; a no-op when it is);
    None when it is, else the one-line reason ``docker/prepare.sh`` gave (exit 3)."""
    result = subprocess.run(
        ["bash", str(PREPARE), "all"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if result.returncode == 3:
        return lines[-1] if lines else "docker/prepare.sh: the Docker path cannot be made here"
    pytest.fail(f"docker/prepare.sh failed (exit {result.returncode}):\n{result.stderr[-3000:]}")


def free_port() -> int:
    """A TCP port nothing listens on now, outside the kernel's ephemeral range (an
    outgoing connection cannot take it as its source port before the stack binds it)."""
    return free_ports(1)


@dataclass
class ComposeStack:
    """One Compose project of the project's stack, on free host ports."""

    project: str
    extra_files: list[str] = field(default_factory=list)
    kafka_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)
    warehouse_port: int = field(default_factory=free_port)
    dashboard_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    reader_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    def environment(self) -> dict[str, str]:
        """What ``docker compose`` is run with: the project, ports, password, CA bundle."""
        bundle = os.environ.get("BUILD_CA_BUNDLE") or (
            str(DEFAULT_CA_BUNDLE) if DEFAULT_CA_BUNDLE.is_file() else "/dev/null"
        )
        return {
            "COMPOSE_PROJECT_NAME": self.project,
            "DOCKER_KAFKA_PORT": str(self.kafka_port),
            "DOCKER_S3_PORT": str(self.s3_port),
            "DOCKER_WAREHOUSE_PORT": str(self.warehouse_port),
            "DASHBOARD_PORT": str(self.dashboard_port),
            "PROMETHEUS_PORT": str(self.prometheus_port),
            "WAREHOUSE_PASSWORD": self.password,
            "QUERY_PASSWORD": self.reader_password,
            "BUILD_CA_BUNDLE": bundle,
        }

    def compose(self, services: list[str] | None = None) -> DockerCompose:
        """testcontainers' handle on this project (build on ``up``, wait for health)."""
        return DockerCompose(
            context=ROOT,
            compose_file_name=["docker-compose.yml", *self.extra_files],
            build=True,
            wait=True,
            services=services,
        )

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``docker compose ARGS`` for this project (what DockerCompose has no verb for)."""
        return subprocess.run(
            [*self.compose().compose_command_property, *args],
            cwd=ROOT,
            env={**os.environ, **self.environment()},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def host_settings(self) -> Settings:
        """The settings a program on the host uses to reach this stack's published ports."""
        return load_settings(
            kafka_bootstrap_servers=f"localhost:{self.kafka_port}",
            s3_endpoint_url=f"http://localhost:{self.s3_port}",
            warehouse_dsn=(
                f"postgresql://lambda:{self.password}@localhost:{self.warehouse_port}/lambda"
            ),
            query_dsn=(
                f"postgresql://lambda_reader:{self.reader_password}"
                f"@localhost:{self.warehouse_port}/lambda"
            ),
        )

    @contextmanager
    def environ(self) -> Iterator[None]:
        """This project's variables in ``os.environ`` (DockerCompose runs with it)."""
        with pytest.MonkeyPatch.context() as mp:
            for name, value in self.environment().items():
                mp.setenv(name, value)
            yield

    def down(self, *, volumes: bool) -> None:
        """``docker compose down`` (``-v``: with the project's volumes), the ``monitoring``
        profile's services included."""
        args = [
            "--profile", "monitoring", "down", "--remove-orphans",
            *(["--volumes"] if volumes else []),
        ]  # fmt: skip
        result = self.run(*args, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
