"""LOCAL_KAFKA_BROKERS=3: a 3-node KRaft cluster of the local stack's own, in a folder of
its own on free ports (never the session stack's), that replicates the pipeline's topic
three times with two in sync, and keeps taking ``acks=all`` writes with a node killed."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from lambda_common.broker import admin_client, client_config, ensure_topic
from lambda_common.settings import HostPort, Settings, load_settings
from local_stack.process import port_in_use
from local_stack.services import KafkaService
from local_stack.stack import LocalStack

from .helpers import consume_all, run_module


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports, away from every stack's defaults."""
    rng = random.Random()
    for _ in range(100):
        first = rng.randrange(40_000, 60_000)
        if not any(port_in_use(HostPort("localhost", p)) for p in range(first, first + count)):
            return first
    raise AssertionError("no run of free ports found")


def _produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send with acks=all and wait for every acknowledgement (a failed send raises)."""
    producer = KafkaProducer(acks="all", enable_idempotence=True, **client_config(settings))
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in records]
        producer.flush(timeout=90)
        for future in futures:
            future.get(timeout=1)
    finally:
        producer.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalStack]:
    """Three nodes up (and down again, whatever happened), brokers on three free ports and
    controllers on the next three (KAFKA_CONTROLLER_PORT empty)."""
    first = _free_ports(6)
    settings = load_settings(
        # Every node listed: a client still starts with node 1 down.
        kafka_bootstrap_servers=",".join(f"localhost:{first + i}" for i in range(3)),
        local_kafka_brokers=3,
        kafka_controller_port=None,
        kafka_replication_factor=None,
        kafka_min_insync_replicas=None,
        local_stack_dir=tmp_path / "stack",
    )
    stack = LocalStack(settings)
    # The session stack's jars, when it has them: resolving them again costs time.
    jars = load_settings().local_stack_dir.resolve() / "jars" / "kafka"
    if jars.is_dir():
        (stack.stack_dir / "jars").mkdir(parents=True)
        (stack.stack_dir / "jars" / "kafka").symlink_to(jars)
    try:
        lines = stack.up(["kafka"])
        assert [line.split()[:2] for line in lines] == [
            [f"kafka-{i}", "started"] for i in (1, 2, 3)
        ], lines
        yield stack
    finally:
        stack.down(["kafka"])


def _env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "LOCAL_KAFKA_BROKERS": "3",
        "KAFKA_CONTROLLER_PORT": "",
        "LOCAL_STACK_DIR": str(settings.local_stack_dir),
    }


def test_three_brokers_replicate_the_topic_and_survive_one_lost(cluster: LocalStack) -> None:
    settings = cluster.settings
    # make local-status: one line per node, each healthy and seeing all three.
    status = run_module("local_stack", "status", env=_env(settings), timeout=60)
    kafka_lines = status.stdout.splitlines()[:3]
    assert [line.split()[:2] for line in kafka_lines] == [
        [f"kafka-{i}", "healthy"] for i in (1, 2, 3)
    ], status.stdout + status.stderr
    assert all(line.split("  (log")[0].endswith("3 live") for line in kafka_lines), status.stdout

    topic = f"it_cluster_{int(time.time())}"
    assert ensure_topic(settings, topic, partitions=3) is True
    admin = admin_client(settings)
    try:
        (described,) = admin.describe_topics([topic])
        partitions = described["partitions"]
        assert [len(p["replica_nodes"]) for p in partitions] == [3, 3, 3], partitions
        assert [len(p["isr_nodes"]) for p in partitions] == [3, 3, 3], partitions
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    assert _config_value(configs, topic, "min.insync.replicas") == "2", configs

    before = [(f"a{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(30)]
    _produce(settings, topic, before)
    node = cluster.services["kafka-1"]
    assert isinstance(node, KafkaService)
    pid = node.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # acks=all with two of three replicas in sync: accepted once the controllers have
    # fenced the lost node (its session times out) and moved its partitions' leaders.
    after = [(f"b{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(30)]
    _produce(settings, topic, after)
    assert sorted(consume_all(settings, topic, 60)) == sorted(before + after)
    assert node.pid() is None


def _config_value(configs: object, topic: str, key: str) -> str | None:
    """One topic config's value out of ``describe_configs``' nested answer."""
    if isinstance(configs, dict):
        for value in configs.values():
            if isinstance(value, dict) and topic in value:
                entry = value[topic].get(key)
                return None if entry is None else str(entry["value"])
    return None
