"""Scaled-out topologies of the tests' own: a 3-node Kafka cluster and a Spark standalone
cluster, each in a folder of its own on free ports (never the session stack's), started
as ``LOCAL_KAFKA_BROKERS=3 make local-up`` and ``make spark-up`` start them, and always
stopped again. Shared by the integration tests of each and the fault scenarios that run
the whole pipeline on both."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka.admin import KafkaAdminClient

from lambda_common.kafka.broker import admin_client
from lambda_common.settings import Settings, load_settings
from local_stack.kafka_node import KafkaService
from local_stack.process import free_ports
from local_stack.spark import SparkCluster, SparkDaemon, cluster_settings
from local_stack.stack import LocalStack


@contextmanager
def kafka_cluster(folder: Path, base: Settings | None = None) -> Iterator[LocalStack]:
    """Three Kafka nodes up (and down again, whatever happened): brokers on three free
    ports, controllers on the next three (KAFKA_CONTROLLER_PORT empty), data in
    ``folder``; the other settings are ``base``'s (default: the environment's)."""
    first = free_ports(6)
    settings = (base or load_settings()).model_copy(
        update={
            # Every node listed: a client still starts with one node down.
            "kafka_bootstrap_servers": ",".join(f"localhost:{first + i}" for i in range(3)),
            "local_kafka_brokers": 3,
            "kafka_controller_port": None,
            "kafka_replication_factor": None,
            "kafka_min_insync_replicas": None,
            "local_stack_dir": folder,
        }
    )
    stack = LocalStack(settings)
    # The session stack's jars, when it has them: resolving them again costs time.
    jars = load_settings().local_stack_dir.resolve() / "jars" / "kafka"
    if jars.is_dir():
        (stack.stack_dir / "jars").mkdir(parents=True, exist_ok=True)
        link = stack.stack_dir / "jars" / "kafka"
        if not link.exists():
            link.symlink_to(jars)
    try:
        lines = stack.up(["kafka"])
        assert [line.split()[:2] for line in lines] == [
            [f"kafka-{i}", "started"] for i in (1, 2, 3)
        ], lines
        yield stack
    finally:
        stack.down(["kafka"])


def kafka_node(stack: LocalStack, node_id: int) -> KafkaService:
    """The cluster's node whose ``node.id`` is ``node_id``."""
    node = stack.services[f"kafka-{node_id}"]
    assert isinstance(node, KafkaService)
    return node


def partition_leader(settings: Settings, topic: str, partition: int) -> int:
    """The node id leading ``partition`` of ``topic`` now."""
    admin: KafkaAdminClient = admin_client(settings)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    for p in described["partitions"]:
        if p["partition_index"] == partition:
            return int(p["leader_id"])
    raise AssertionError(f"{topic} has no partition {partition}: {described}")


@contextmanager
def spark_cluster(base: Settings, folder: Path, workers: int = 2) -> Iterator[SparkCluster]:
    """A master and ``workers`` workers of the standalone cluster in ``folder``, on free
    ports; ``down`` afterwards, whatever happened (``up`` is the caller's, so a test can
    check its lines)."""
    handle = SparkCluster(cluster_settings(base, folder, workers))
    try:
        yield handle
    finally:
        handle.down()


def spark_daemon(cluster: SparkCluster, name: str) -> SparkDaemon:
    """The cluster's ``master`` or ``worker-N``."""
    daemon = cluster.services[name]
    assert isinstance(daemon, SparkDaemon)
    return daemon


def kill_machine(pid: int) -> None:
    """SIGKILL ``pid`` and everything in its process group, as losing its machine would:
    a Spark worker takes its executors with it."""
    os.killpg(os.getpgid(pid), signal.SIGKILL)
