"""Kafka of the local stack: a KRaft node (broker and controller in one), alone or one of
a 3-node cluster (``LOCAL_KAFKA_BROKERS``), plain or in the TLS mode (``make local-tls``)."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

from lambda_common.errors import ServiceUnavailable, StackError
from lambda_common.kafka.broker import admin_client, check_broker
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings
from local_stack.jars import ensure_jars
from local_stack.process import free_ports, resolve_host, stop_pids
from local_stack.service import ALL_INTERFACES, JavaService, Port, conf_file, java_command
from local_stack.tls import kafka_tls, tls_files

logger = logging.getLogger(__name__)


def kafka_node_ports(settings: Settings, nodes: int) -> list[tuple[HostPort, HostPort]]:
    """Each local Kafka node's broker and controller address: brokers on
    KAFKA_BOOTSTRAP_SERVERS' (first) port and the next ones, controllers on
    KAFKA_CONTROLLER_PORT and the next ones; ``StackError`` when the two ranges overlap."""
    first = settings.kafka_servers[0]
    brokers = [first.port + i for i in range(nodes)]
    controllers = [settings.kafka_controller_ports[0] + i for i in range(nodes)]
    if brokers[-1] > 65535:
        raise StackError(
            f"KAFKA_BOOTSTRAP_SERVERS' port {first.port} leaves no room for {nodes} brokers"
        )
    if set(brokers) & set(controllers):
        raise StackError(
            f"KAFKA_CONTROLLER_PORT {controllers[0]} puts controllers on "
            f"{_span(controllers)}, where the brokers listen ({_span(brokers)}): "
            "set it elsewhere, or leave it empty (after the brokers' ports)"
        )
    return [
        (HostPort(first.host, b), HostPort(first.host, c))
        for b, c in zip(brokers, controllers, strict=True)
    ]


def _span(ports: list[int]) -> str:
    return str(ports[0]) if len(ports) == 1 else f"{ports[0]}-{ports[-1]}"


KAFKA_LAST_NODE_GRACE_S = 5.0
"""How long the last node of a cluster being stopped may take once the others exited."""


class KafkaService(JavaService):
    """Apache Kafka 4.x in KRaft mode: one node of LOCAL_KAFKA_BROKERS (1 or 3), each a
    combined broker + controller; with three, the controllers form a 3-voter quorum."""

    name = "kafka"
    program = "kafka"
    main_class = "kafka.Kafka"
    heap = "512m"
    # Named listeners (name -> advertised host:port) instead of the single one of
    # KAFKA_BOOTSTRAP_SERVERS; set by ``serve --listener`` (docker-compose.yml).
    listeners: dict[str, HostPort] | None = None

    def __init__(
        self,
        settings: Settings,
        stack_dir: Path,
        *,
        bind_all: bool = False,
        node: int = 1,
        nodes: int | None = None,
    ) -> None:
        self.node = node
        self.nodes = settings.local_kafka_brokers if nodes is None else nodes
        if not 1 <= node <= self.nodes:
            raise StackError(f"Kafka node {node} of {self.nodes} does not exist")
        # One node keeps the name (and folder) it always had; a cluster's nodes are
        # kafka-1..kafka-3, so the two modes never share a data folder.
        if self.nodes > 1:
            self.name = f"kafka-{node}"
        super().__init__(settings, stack_dir, bind_all=bind_all)

    @classmethod
    def cluster(
        cls, settings: Settings, stack_dir: Path, nodes: int | None = None
    ) -> list[KafkaService]:
        """Every node of a local cluster of ``nodes`` (default LOCAL_KAFKA_BROKERS)."""
        count = settings.local_kafka_brokers if nodes is None else nodes
        return [cls(settings, stack_dir, node=i, nodes=count) for i in range(1, count + 1)]

    @property
    def address(self) -> HostPort:
        """Where this node's broker listens (and is advertised)."""
        return self.ports()[0].address

    def ports(self) -> list[Port]:
        broker, controller = kafka_node_ports(self.settings, self.nodes)[self.node - 1]
        return [Port("KAFKA_BOOTSTRAP_SERVERS", broker), Port("KAFKA_CONTROLLER_PORT", controller)]

    def jvm_options(self) -> list[str]:
        return [
            *super().jvm_options(),
            f"-Dlog4j2.configurationFile={conf_file('kafka-log4j2.xml')}",
        ]

    def listener_properties(self) -> dict[str, str]:
        """The broker's listeners: one PLAINTEXT listener on ``KAFKA_BOOTSTRAP_SERVERS``, or
        the named ones given to ``serve`` (each bound on all interfaces, on its port, and
        advertised as given: one for the other containers, one for the host)."""
        broker, controller = (p.address for p in self.ports())
        if not self.listeners and kafka_tls(self.settings):
            if self.nodes > 1:
                raise StackError(
                    "the local stack's TLS mode (KAFKA_SECURITY_PROTOCOL "
                    f"{self.settings.kafka_security_protocol}) runs one Kafka node: set "
                    "LOCAL_KAFKA_BROKERS=1"
                )
            return self._tls_listener_properties(broker, controller)
        if not self.listeners:
            voters = ",".join(
                f"{i}@{c.host}:{c.port}"
                for i, (_, c) in enumerate(kafka_node_ports(self.settings, self.nodes), 1)
            )
            return {
                "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://{broker.host}:{broker.port},"
                f"CONTROLLER://{broker.host}:{controller.port}",
                "advertised.listeners": f"PLAINTEXT://{broker.host}:{broker.port}",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name": "PLAINTEXT",
            }
        if self.nodes > 1:
            raise StackError("named listeners (serve kafka) are for a single Kafka node")
        names = list(self.listeners)
        ports = [a.port for a in self.listeners.values()] + [controller.port]
        if len(set(ports)) != len(ports):
            raise StackError(
                f"Kafka listener ports collide: {', '.join(map(str, ports))} "
                "(the listeners' and KAFKA_CONTROLLER_PORT must all differ)"
            )
        bind = ALL_INTERFACES if self.bind_all else broker.host
        return {
            # The controller is this node alone: it only has to answer inside it.
            "controller.quorum.voters": f"1@127.0.0.1:{controller.port}",
            "listeners": ",".join(
                [f"{n}://{bind}:{a.port}" for n, a in self.listeners.items()]
                + [f"CONTROLLER://127.0.0.1:{controller.port}"]
            ),
            "advertised.listeners": ",".join(
                f"{n}://{a.host}:{a.port}" for n, a in self.listeners.items()
            ),
            "listener.security.protocol.map": ",".join(
                f"{n}:PLAINTEXT" for n in [*names, "CONTROLLER"]
            ),
            "inter.broker.listener.name": names[0],
        }

    @property
    def internal_port_path(self) -> Path:
        """Where the TLS mode keeps its loopback listener's port (chosen at each start)."""
        return self.home / "internal.port"

    def internal_port(self) -> int | None:
        """The loopback listener's port in the TLS mode; None otherwise."""
        try:
            return int(self.internal_port_path.read_text())
        except (OSError, ValueError):
            return None

    def _tls_listener_properties(self, broker: HostPort, controller: HostPort) -> dict[str, str]:
        """The client listener with the settings' TLS (and SCRAM), beside a plain listener
        on loopback for what the stack itself does (probing, creating the SCRAM user) and
        between brokers. The certificates come from ``make local-tls``."""
        s = self.settings
        files = tls_files(s)
        if not files.exist():
            raise StackError(
                f"KAFKA_SECURITY_PROTOCOL={s.kafka_security_protocol} needs the local stack's "
                "certificates: run make local-tls first (then KAFKA_SSL_CAFILE="
                f"{files.ca})"
            )
        mechanism = s.kafka_sasl_mechanism
        if mechanism not in (None, "SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise StackError(
                f"KAFKA_SASL_MECHANISM={mechanism}: the local stack serves SCRAM-SHA-256 and "
                "SCRAM-SHA-512 only"
            )
        # Not a port of the kernel's ephemeral range: see free_ports.
        internal = free_ports(1)
        self.internal_port_path.write_text(str(internal))
        proto = s.kafka_security_protocol
        props = {
            "controller.quorum.voters": f"1@{broker.host}:{controller.port}",
            "listeners": f"{proto}://{broker.host}:{broker.port},"
            f"BROKER://127.0.0.1:{internal},CONTROLLER://{broker.host}:{controller.port}",
            "advertised.listeners": f"{proto}://{broker.host}:{broker.port},"
            f"BROKER://127.0.0.1:{internal}",
            "listener.security.protocol.map": (
                f"CONTROLLER:PLAINTEXT,BROKER:PLAINTEXT,{proto}:{proto}"
            ),
            "inter.broker.listener.name": "BROKER",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(files.keystore),
        }
        if mechanism is not None:
            name = f"listener.name.{proto.lower()}.{mechanism.lower()}.sasl.jaas.config"
            props["sasl.enabled.mechanisms"] = mechanism
            # SCRAM credentials live in the cluster's metadata (after_healthy), not here.
            props[name] = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return props

    def _plain_settings(self) -> Settings:
        """Settings that reach this broker through its loopback listener (TLS mode)."""
        return self.settings.model_copy(
            update={
                "kafka_bootstrap_servers": f"127.0.0.1:{self.internal_port()}",
                "kafka_security_protocol": "PLAINTEXT",
                "kafka_ssl_cafile": None,
                "kafka_sasl_mechanism": None,
            }
        )

    def after_healthy(self) -> None:
        """In the TLS mode with SCRAM, the settings' user gets its credential (updated on
        every start, so a changed KAFKA_SASL_PASSWORD takes effect)."""
        s = self.settings
        if self.listeners or not kafka_tls(s) or s.kafka_sasl_mechanism is None:
            return
        assert s.kafka_sasl_username is not None and s.kafka_sasl_password is not None
        upsert = UserScramCredentialUpsertion(
            s.kafka_sasl_username,
            ScramMechanism.SCRAM_SHA_512
            if s.kafka_sasl_mechanism == "SCRAM-SHA-512"
            else ScramMechanism.SCRAM_SHA_256,
            s.kafka_sasl_password.get_secret_value(),
            iterations=8192,
        )
        admin = admin_client(self._plain_settings(), timeout_s=10)
        try:
            failed = {u: e for u, e in admin.alter_user_scram_credentials([upsert]).items() if e}
        finally:
            admin.close()
        if failed:
            raise StackError(f"creating the SCRAM user failed: {failed}")
        logger.info("SCRAM credential of Kafka user %s set", s.kafka_sasl_username)

    def properties(self) -> dict[str, str]:
        """The node's whole configuration (``server.properties``)."""
        data = self.home / "data"
        # A single node can only hold one replica of the internal topics; three hold
        # three, and a write to them needs two (one node may be down).
        replicas = str(min(3, self.nodes))
        min_isr = str(max(1, self.nodes - 1))
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            **self.listener_properties(),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(data),
            "num.partitions": str(self.settings.kafka_topic_partitions),
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": min_isr,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": min_isr,
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if self.nodes > 1:
            # Topics created without these (by other tools) get the cluster's durability.
            props["default.replication.factor"] = replicas
            props["min.insync.replicas"] = min_isr
        return props

    def prepare(self) -> list[str]:
        data = self.home / "data"
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        if not (data / "meta.properties").exists():
            self._format(data)
        return [str(self.config_path)]

    def _format(self, data: Path) -> None:
        jars = ensure_jars(self.stack_dir, self.program)
        classpath = f"{jars}/*"
        log4j = f"-Dlog4j2.configurationFile={conf_file('kafka-log4j2.xml')}"
        # Every node of a cluster is formatted with one cluster id: the first formatted
        # node's (a node's data lost and formatted again joins its old cluster).
        cluster_id = (
            self._sibling_cluster_id()
            or (
                subprocess.run(
                    [
                        java_command(),
                        log4j,
                        "-cp",
                        classpath,
                        "kafka.tools.StorageTool",
                        "random-uuid",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
        )
        result = subprocess.run(
            [
                java_command(),
                log4j,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"formatting Kafka storage in {data} failed: "
                f"{(result.stdout + result.stderr)[-300:]}"
            )
        logger.info("formatted Kafka KRaft storage in %s (cluster id %s)", data, cluster_id)

    @staticmethod
    def stop_together(nodes: list[KafkaService]) -> None:
        """Stop several nodes at once (``stop`` one by one would leave the last without a
        controller quorum for its clean shutdown, and it would wait until killed). Even
        so, the node that was the active controller can be left waiting for the quorum
        once the others are gone: it gets a few seconds, then is killed (its data is on
        disk and recovered at the next start)."""
        targets = [(pid, n.marker) for n in nodes if (pid := n.pid()) is not None]
        stop_pids(targets, last_grace_s=KAFKA_LAST_NODE_GRACE_S)
        for node in nodes:
            node.pid_path.unlink(missing_ok=True)

    def _sibling_cluster_id(self) -> str | None:
        for sibling in KafkaService.cluster(self.settings, self.stack_dir, self.nodes):
            meta = sibling.home / "data" / "meta.properties"
            if sibling.node != self.node and meta.is_file():
                for line in meta.read_text().splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == "cluster.id" and value.strip():
                        return value.strip()
        return None

    def probe(self) -> str:
        # A plain TCP connect first: while the broker boots, kafka-python would log every
        # refused connection as an error.
        broker = self.address
        socket.create_connection((resolve_host(broker.host), broker.port), timeout=2).close()
        if not self.listeners and kafka_tls(self.settings):
            # Its own loopback listener: the SCRAM user exists only once it is healthy.
            brokers = check_broker(self._plain_settings(), timeout_s=3)
            return (
                f"{brokers} broker(s) at {self.settings.kafka_bootstrap_servers} "
                f"({self.settings.kafka_security_protocol})"
            )
        if self.nodes == 1:
            brokers = check_broker(self.settings, timeout_s=3)
            return f"{brokers} broker(s) at {self.settings.kafka_bootstrap_servers}"
        brokers = check_broker(self._this_node_only(), timeout_s=3)
        return f"node {self.node} of {self.nodes} at {broker.host}:{broker.port}, {brokers} live"

    def _this_node_only(self) -> Settings:
        # Settings that reach this node itself, not just any node of the bootstrap list.
        return self.settings.model_copy(
            update={"kafka_bootstrap_servers": f"{self.address.host}:{self.address.port}"}
        )

    def wait_healthy(self, timeout_s: float) -> str:
        """As every service; in a cluster also until every node has registered with the
        controllers (a topic created before would get fewer replicas than there are
        nodes)."""
        deadline = time.monotonic() + timeout_s
        detail = super().wait_healthy(timeout_s)
        while self.nodes > 1:
            try:
                if check_broker(self._this_node_only(), timeout_s=3) >= self.nodes:
                    return self.probe()
            except ServiceUnavailable:
                pass  # asked again below, until the deadline
            if time.monotonic() > deadline:
                raise StackError(
                    f"{self.name} did not see all {self.nodes} brokers within "
                    f"{timeout_s:.0f}s ({detail}); see {self.log_path}"
                )
            time.sleep(0.5)
        return detail
