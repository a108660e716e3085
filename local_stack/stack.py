"""Start, stop and inspect the whole local stack."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from lambda_common.errors import StackError
from lambda_common.settings import Settings
from local_stack.jars import PROGRAMS, ensure_jars
from local_stack.kafka_node import KafkaService
from local_stack.postgres import PostgresService
from local_stack.process import port_in_use
from local_stack.s3proxy import S3Service
from local_stack.service import JavaService, Service, Status

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0

SERVICE_TYPES: tuple[type[Service], ...] = (KafkaService, PostgresService, S3Service)
"""Every service of the stack, in start order."""


def check_ports_free(services: Sequence[Service]) -> None:
    """Raise ``StackError`` naming the setting of the first port of ``services`` that
    another process holds."""
    for svc in services:
        for port in svc.ports():
            if port_in_use(port.address):
                raise StackError(
                    f"port {port.address.port} ({port.setting}) is already in use "
                    f"by another process: free it or set {port.setting} to use another port"
                )


class LocalStack:
    """The local stack for one settings object (one ``LOCAL_STACK_DIR``)."""

    def __init__(self, settings: Settings, services: Sequence[Service] | None = None) -> None:
        self.settings = settings
        self.stack_dir = settings.local_stack_dir.resolve()
        self.services: dict[str, Service] = {}
        # The Kafka nodes of the other LOCAL_KAFKA_BROKERS, in their own folders: never
        # started here, but found running (the setting changed) and stopped by ``down``.
        self.other_kafka: list[KafkaService] = []
        if services is not None:
            # Another set of programs managed the same way (the Spark cluster).
            self.services = {svc.name: svc for svc in services}
            return
        for cls in SERVICE_TYPES:
            if cls is KafkaService:
                # One service per node: kafka, or kafka-1..kafka-3 (LOCAL_KAFKA_BROKERS).
                self.services.update(
                    (node.name, node) for node in KafkaService.cluster(settings, self.stack_dir)
                )
            else:
                self.services[cls.name] = cls(settings, self.stack_dir)
        self.other_kafka = KafkaService.cluster(
            settings, self.stack_dir, 3 if settings.local_kafka_brokers == 1 else 1
        )

    def _select(self, names: Sequence[str] | None) -> list[Service]:
        if not names:
            return list(self.services.values())
        # "kafka" names every node of a cluster too.
        wanted = {n for n in self.services if n in names}
        if "kafka" in names:
            wanted |= {n for n, svc in self.services.items() if isinstance(svc, KafkaService)}
        unknown = sorted(set(names) - set(self.services) - {"kafka"})
        if unknown:
            raise StackError(
                f"unknown service(s) {', '.join(unknown)}; known: {', '.join(self.services)}"
            )
        return [svc for n, svc in self.services.items() if n in wanted]

    def _other_kafka_running(self) -> list[KafkaService]:
        return [node for node in self.other_kafka if node.pid() is not None]

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Two `local-up`s at once (two terminals, parallel test runs) must not both start
        # a broker on the same data directory.
        self.stack_dir.mkdir(parents=True, exist_ok=True)
        with (self.stack_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def fetch_jars(self, names: Sequence[str] = ()) -> list[Path]:
        """Resolve the jars of ``names``, by default of every Java program, and Amazon's
        MSK IAM sign-in when the speed job signs in with it (the offline-able part of
        set-up)."""
        if not names:
            iam = self.settings.kafka_sasl_mechanism == "AWS_MSK_IAM"
            names = (*PROGRAMS, "msk-iam") if iam else PROGRAMS
        return [ensure_jars(self.stack_dir, program) for program in names]

    def up(
        self, names: Sequence[str] | None = None, timeout_s: float = START_TIMEOUT_S
    ) -> list[str]:
        """Start what is not running, wait until all are healthy; return one line each.

        Idempotent: a running, healthy service is left alone.
        """
        lines: list[str] = []
        with self._lock():
            selected = self._select(names)
            running = self._other_kafka_running()
            if running and any(isinstance(svc, KafkaService) for svc in selected):
                other = running[0]
                raise StackError(
                    f"Kafka runs here with LOCAL_KAFKA_BROKERS={other.nodes} "
                    f"({other.name}, pid {other.pid()}), not {self.settings.local_kafka_brokers}:"
                    " stop it first (make local-down); each mode keeps its own data"
                )
            for svc in selected:
                svc.check_local()
            to_start = [svc for svc in selected if svc.pid() is None]
            # Check every port before starting anything, so a conflict fails fast and
            # leaves nothing half-started.
            check_ports_free(to_start)
            for svc in to_start:
                if isinstance(svc, JavaService):
                    ensure_jars(self.stack_dir, svc.program)
            for svc in to_start:
                logger.info("starting %s", svc.name)
                svc.start()
            for svc in selected:
                detail = svc.wait_healthy(timeout_s)
                svc.after_healthy()
                verb = "started" if svc in to_start else "already running"
                lines.append(f"{svc.name:<9} {verb:<16} {detail}")
        return lines

    def down(self, names: Sequence[str] | None = None) -> list[str]:
        """Stop the selected services (all by default); data stays on disk."""
        lines: list[str] = []
        with self._lock():
            selected = self._select(names)
            if any(isinstance(svc, KafkaService) for svc in selected):
                # Left running by the other mode: stopped too, so local-down always works.
                others = self._other_kafka_running()
                KafkaService.stop_together(others)
                lines += [
                    f"{node.name:<9} stopped (LOCAL_KAFKA_BROKERS={node.nodes})"
                    for node in reversed(others)
                ]
            running = [svc for svc in selected if svc.pid() is not None]
            # A cluster's nodes stop together; the other services in reverse start order.
            nodes = [svc for svc in running if isinstance(svc, KafkaService)]
            for svc in reversed(selected):
                if svc not in running:
                    lines.append(f"{svc.name:<9} already stopped")
                    continue
                if svc in nodes:
                    KafkaService.stop_together(nodes)
                    nodes = []
                elif not isinstance(svc, KafkaService):
                    svc.stop()
                lines.append(f"{svc.name:<9} stopped")
        return lines

    def restart(self, name: str) -> None:
        """Stop then start one service, waiting until it is healthy again."""
        self.down([name])
        self.up([name])

    def status(self) -> list[Status]:
        """The status of every service (a stopped Kafka says so when the other
        LOCAL_KAFKA_BROKERS' Kafka runs here instead)."""
        others = self._other_kafka_running()
        result = []
        for svc in self.services.values():
            st = svc.status()
            if others and isinstance(svc, KafkaService) and st.pid is None:
                names = ", ".join(node.name for node in others)
                detail = f"stopped; {names} of LOCAL_KAFKA_BROKERS={others[0].nodes} run here"
                st = replace(st, detail=detail)
            result.append(st)
        return result
