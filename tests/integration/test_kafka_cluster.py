"""LOCAL_KAFKA_BROKERS=3: a 3-node KRaft cluster of the local stack's own, in a folder of
its own on free ports (never the session stack's), that replicates the pipeline's topic
three times with two in sync, and keeps taking ``acks=all`` writes with a node killed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from lambda_common.kafka.broker import (
    admin_client,
    client_config,
    ensure_topic,
    wait_for_partitions,
)
from lambda_common.settings import Settings, load_settings
from local_stack.stack import LocalStack
from tests.topology import kafka_cluster, kafka_node

from .helpers import consume_all, run_module


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
    with kafka_cluster(tmp_path / "stack", base=load_settings()) as stack:
        yield stack


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
        described = wait_for_partitions(admin, topic, 3)  # this admin may ask another broker
        partitions = described["partitions"]
        assert [len(p["replica_nodes"]) for p in partitions] == [3, 3, 3], partitions
        assert [len(p["isr_nodes"]) for p in partitions] == [3, 3, 3], partitions
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    assert _config_value(configs, topic, "min.insync.replicas") == "2", configs

    before = [(f"a{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(30)]
    _produce(settings, topic, before)
    node = kafka_node(cluster, 1)
    pid = node.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # acks=all with two of three replicas in sync: accepted once the controllers have
    # fenced the lost node (its session times out) and moved its partitions' leaders.
    after = [(f"b{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(30)]
    _produce(settings, topic, after)
    # A new client may first try the lost node (10 s before kafka-python gives up on it)
    # and then wait out a metadata refresh: idle for more than consume_all's usual 15 s.
    got = consume_all(settings, topic, 60, idle_ms=60_000)
    assert sorted(got) == sorted(before + after)
    assert node.pid() is None


def _config_value(configs: object, topic: str, key: str) -> str | None:
    """One topic config's value out of ``describe_configs``' nested answer."""
    if isinstance(configs, dict):
        for value in configs.values():
            if isinstance(value, dict) and topic in value:
                entry = value[topic].get(key)
                return None if entry is None else str(entry["value"])
    return None
