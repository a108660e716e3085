"""LOCAL_KAFKA_BROKERS: the local stack's Kafka as one node or a 3-node KRaft cluster. The
pure parts, without a JVM: the settings, which ports each node takes, what it is
configured with, how the stack names, starts and stops the nodes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_common.errors import ConfigError, StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings, load_settings
from local_stack import cli as cli_module
from local_stack import kafka_node as kafka_node_module
from local_stack.kafka_node import KafkaService, kafka_node_ports
from local_stack.process import stop_pids
from local_stack.service import Service
from local_stack.stack import LocalStack


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or exported variable leaks into these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(local_stack_dir=tmp_path, **overrides)


# --- Settings ------------------------------------------------------------------------------


def test_one_broker_by_default_and_three_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().local_kafka_brokers == 1
    monkeypatch.setenv("LOCAL_KAFKA_BROKERS", "3")
    assert load_settings().local_kafka_brokers == 3


def test_controllers_follow_the_brokers_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().kafka_controller_port == 9093  # one broker: as it always was
    assert load_settings(local_kafka_brokers=3).kafka_controller_ports == [9095, 9096, 9097]
    moved = load_settings(kafka_bootstrap_servers="localhost:19092", local_kafka_brokers="3")
    assert moved.kafka_controller_ports == [19095, 19096, 19097]
    monkeypatch.setenv("KAFKA_CONTROLLER_PORT", "19192")
    assert load_settings(local_kafka_brokers=3).kafka_controller_ports == [19192, 19193, 19194]
    # make env shows the port in effect, not an empty value.
    assert dict(load_settings().describe())["KAFKA_CONTROLLER_PORT"] == "19192"


def test_controller_ports_must_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_CONTROLLER_PORT", "65534")
    monkeypatch.setenv("LOCAL_KAFKA_BROKERS", "3")
    with pytest.raises(ConfigError, match="invalid setting KAFKA_CONTROLLER_PORT: leaves no"):
        load_settings()


# --- The nodes ------------------------------------------------------------------------------


def test_one_node_is_configured_as_it_always_was(tmp_path: Path) -> None:
    (kafka,) = KafkaService.cluster(_settings(tmp_path), tmp_path)
    assert (kafka.name, kafka.home, kafka.node) == ("kafka", tmp_path / "kafka", 1)
    assert [(p.setting, p.address) for p in kafka.ports()] == [
        ("KAFKA_BOOTSTRAP_SERVERS", HostPort("localhost", 9092)),
        ("KAFKA_CONTROLLER_PORT", HostPort("localhost", 9093)),
    ]
    assert kafka.properties() == {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": "1@localhost:9093",
        "listeners": "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
        "advertised.listeners": "PLAINTEXT://localhost:9092",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(tmp_path / "kafka" / "data"),
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
    }


def test_three_nodes_form_one_quorum_on_consecutive_ports(tmp_path: Path) -> None:
    nodes = KafkaService.cluster(_settings(tmp_path, local_kafka_brokers=3), tmp_path)
    assert [n.name for n in nodes] == ["kafka-1", "kafka-2", "kafka-3"]
    assert len({n.home for n in nodes} | {n.config_path for n in nodes}) == 6
    assert [n.address.port for n in nodes] == [9092, 9093, 9094]
    every_port = [p.address.port for n in nodes for p in n.ports()]
    assert sorted(every_port) == list(range(9092, 9098)), "six distinct ports"
    for i, node in enumerate(nodes, 1):
        props = node.properties()
        assert props["node.id"] == str(i)
        assert props["process.roles"] == "broker,controller"
        assert props["controller.quorum.voters"] == (
            "1@localhost:9095,2@localhost:9096,3@localhost:9097"
        )
        assert props["listeners"] == (
            f"PLAINTEXT://localhost:{9091 + i},CONTROLLER://localhost:{9094 + i}"
        )
        assert props["advertised.listeners"] == f"PLAINTEXT://localhost:{9091 + i}"
        assert props["log.dirs"] == str(tmp_path / f"kafka-{i}" / "data")
        for key in (
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "share.coordinator.state.topic.replication.factor",
            "default.replication.factor",
        ):
            assert props[key] == "3", key
        for key in (
            "transaction.state.log.min.isr",
            "share.coordinator.state.topic.min.isr",
            "min.insync.replicas",
        ):
            assert props[key] == "2", key


def test_controllers_on_the_brokers_ports_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, local_kafka_brokers=3, kafka_controller_port=9093)
    with pytest.raises(
        StackError, match=r"KAFKA_CONTROLLER_PORT 9093 puts controllers on 9093-9095"
    ):
        kafka_node_ports(settings, 3)
    with pytest.raises(StackError, match="KAFKA_CONTROLLER_PORT"):
        KafkaService(settings, tmp_path, node=2).ports()


def test_nodes_share_the_first_formatted_nodes_cluster_id(tmp_path: Path) -> None:
    nodes = KafkaService.cluster(_settings(tmp_path, local_kafka_brokers=3), tmp_path)
    assert nodes[1]._sibling_cluster_id() is None
    meta = nodes[2].home / "data" / "meta.properties"
    meta.parent.mkdir(parents=True)
    meta.write_text("#\nnode.id=3\ncluster.id=Xq0Lw7yKQ4G1nqvAbcdEfg\nversion=1\n")
    assert nodes[0]._sibling_cluster_id() == "Xq0Lw7yKQ4G1nqvAbcdEfg"
    assert nodes[2]._sibling_cluster_id() is None, "its own id is not a sibling's"


# --- The stack ------------------------------------------------------------------------------


def test_the_stack_lists_each_node(tmp_path: Path) -> None:
    assert list(LocalStack(_settings(tmp_path)).services) == ["kafka", "postgres", "s3"]
    stack = LocalStack(_settings(tmp_path, local_kafka_brokers=3))
    assert list(stack.services) == ["kafka-1", "kafka-2", "kafka-3", "postgres", "s3"]
    assert [s.name for s in stack._select(["kafka"])] == ["kafka-1", "kafka-2", "kafka-3"]
    assert [s.name for s in stack._select(["s3", "kafka-2"])] == ["kafka-2", "s3"]
    with pytest.raises(StackError, match=r"unknown service\(s\) kafka-4"):
        stack._select(["kafka-4"])


def test_up_refuses_while_the_other_modes_kafka_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack(_settings(tmp_path, local_kafka_brokers=3))
    (single,) = stack.other_kafka
    assert single.home == tmp_path / "kafka", "the 1-node folder, apart from kafka-1..3"
    monkeypatch.setattr(single, "pid", lambda: 4242)
    with pytest.raises(StackError, match=r"LOCAL_KAFKA_BROKERS=1 \(kafka, pid 4242\)") as info:
        stack.up(["kafka"])
    assert "make local-down" in str(info.value) and "\n" not in str(info.value)


def test_status_says_when_the_other_modes_kafka_runs_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack(_settings(tmp_path))
    for node in stack.other_kafka:
        monkeypatch.setattr(node, "pid", lambda: 4242)
    kafka = next(st for st in stack.status() if st.name == "kafka")
    assert (kafka.pid, kafka.healthy) == (None, False)
    assert kafka.detail == "stopped; kafka-1, kafka-2, kafka-3 of LOCAL_KAFKA_BROKERS=3 run here"


def test_down_stops_a_clusters_nodes_together_and_the_other_modes_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped: list[list[int]] = []
    monkeypatch.setattr(
        kafka_node_module,
        "stop_pids",
        lambda targets, last_grace_s: stopped.append([p for p, _ in targets]),
    )
    stack = LocalStack(_settings(tmp_path, local_kafka_brokers=3))
    (single,) = stack.other_kafka
    monkeypatch.setattr(single, "pid", lambda: 4000)
    for i, svc in enumerate(stack.services.values(), 1):
        running = isinstance(svc, KafkaService) and svc.node != 2
        monkeypatch.setattr(svc, "pid", lambda i=i, running=running: 4000 + i if running else None)
    assert stack.down() == [
        "kafka     stopped (LOCAL_KAFKA_BROKERS=1)",
        "s3        already stopped",
        "postgres  already stopped",
        "kafka-3   stopped",
        "kafka-2   already stopped",
        "kafka-1   stopped",
    ]
    # One call for the other mode's node, one for the cluster's running nodes.
    assert stopped == [[4000], [4001, 4003]]


def test_a_container_is_one_kafka_node_whatever_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[Service] = []
    monkeypatch.setattr(cli_module, "serve", lambda service: served.append(service) or 0)
    monkeypatch.setenv("LOCAL_KAFKA_BROKERS", "3")
    monkeypatch.setenv("LOCAL_STACK_DIR", str(tmp_path))
    assert cli_module.main(["serve", "kafka", "--listener", "INTERNAL=kafka:29092"]) == 0
    (kafka,) = served
    assert isinstance(kafka, KafkaService)
    assert (kafka.name, kafka.nodes, kafka.bind_all) == ("kafka", 1, True)
    assert kafka.listeners == {"INTERNAL": HostPort("kafka", 29092)}


def test_the_last_node_left_shutting_down_gets_a_short_grace() -> None:
    # One process that exits on SIGTERM, one that ignores it (as the last Kafka node
    # waiting for a quorum that is gone).
    quick = subprocess.Popen(["sleep", "30"])
    stuck = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert stuck.stdout is not None and stuck.stdout.readline()  # SIGTERM is ignored now
        started = time.monotonic()
        stop_pids([(quick.pid, None), (stuck.pid, None)], timeout_s=20, last_grace_s=0.5)
        assert time.monotonic() - started < 5
        assert quick.wait(timeout=5) == -signal.SIGTERM
        assert stuck.wait(timeout=5) == -signal.SIGKILL
    finally:
        for proc in (quick, stuck):
            proc.kill()
            proc.wait()
