"""The three services of the local stack and how to start, probe and stop them.

Each service keeps its data, config, log and pid under ``<stack>/<name>/``. Services are
started detached (their own session, reparented to init) so they outlive the command
that started them and a Ctrl-C in the terminal does not reach them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg2
from botocore.exceptions import BotoCoreError, ClientError
from psycopg2 import sql

from lambda_common.broker import check_broker
from lambda_common.errors import LambdaError, ServiceUnavailable, StackError
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import HostPort, Settings
from lambda_common.sql import load_sql, statements
from local_stack.jars import ensure_jars

logger = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - only in a container, where the network is its own
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"})  # noqa: S104


@dataclass(frozen=True)
class Port:
    """A TCP port a service listens on, and the setting it comes from."""

    setting: str
    address: HostPort


@dataclass(frozen=True)
class Status:
    """What ``local-status`` reports for one service."""

    name: str
    pid: int | None
    healthy: bool
    detail: str
    log: Path


def _conf(name: str) -> Path:
    return Path(str(resources.files("local_stack") / "conf" / name))


def _resolve_host(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "0.0.0.0") else host  # noqa: S104


def port_in_use(address: HostPort) -> bool:
    """True when something else already holds the port (we cannot bind it)."""
    host = _resolve_host(address.host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: a port in TIME_WAIT from our own last run is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, address.port))
        except OSError:
            return True
    return False


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if given, its command line holds ``marker``.

    The marker guards against pid reuse after a reboot or a crash.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user (postgres when we are root)
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if marker is not None:
            cmdline = (proc / "cmdline").read_bytes()
            # Empty while the process is between fork and exec (nohup exec-ing java):
            # it exists and is not a zombie, so it is alive.
            return not cmdline or marker in cmdline.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return proc.exists()
    return True


def spawn_detached(argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in the background, detached from us; return its pid.

    A short-lived ``sh`` forks the program and exits, so the program is reparented to init
    and never becomes our zombie; ``start_new_session`` keeps terminal signals away.
    """
    script = 'nohup "$@" >>"$LAMBDA_LOG" 2>&1 </dev/null & echo $!'
    full_env = dict(os.environ if env is None else env)
    full_env["LAMBDA_LOG"] = str(log)
    out = subprocess.run(
        ["sh", "-c", script, "sh", *argv],
        capture_output=True,
        text=True,
        check=True,
        env=full_env,
        start_new_session=True,
    )
    return int(out.stdout.strip())


def stop_pid(pid: int, marker: str | None, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait up to ``timeout_s`` for a clean exit, then SIGKILL."""
    if not pid_alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            return
        time.sleep(0.2)
    logger.warning("pid %s did not stop within %ss: killing it", pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java 17+ is needed for Kafka and the S3 server: "
            "apt-get install openjdk-17-jre-headless"
        )
    return java


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])


class Service(ABC):
    """One program of the local stack."""

    name: str
    # The signal that stops the program cleanly and promptly (``serve`` forwards it).
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self, settings: Settings, stack_dir: Path, *, bind_all: bool = False) -> None:
        self.settings = settings
        self.stack_dir = stack_dir
        self.home = stack_dir / self.name
        # In a container (``serve``) the service listens on every interface of the
        # container, for the other containers and the published port; on a machine it
        # listens only on the host its setting names.
        self.bind_all = bind_all

    @property
    def log_path(self) -> Path:
        """Where the service's output goes."""
        return self.home / f"{self.name}.log"

    @abstractmethod
    def ports(self) -> list[Port]:
        """The ports the service listens on, with the settings that choose them."""

    @abstractmethod
    def pid(self) -> int | None:
        """The running process, or None."""

    @abstractmethod
    def start(self) -> None:
        """Launch the service (it is known not to be running and its ports are free)."""

    @abstractmethod
    def foreground_command(self) -> list[str]:
        """Prepare the service as ``start`` does and return the command line that runs it
        in the foreground instead of detached (``serve``: a container's main program)."""

    @abstractmethod
    def probe(self) -> str:
        """Raise unless the service answers requests; return a short detail line."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the service cleanly (no-op when not running)."""

    def after_healthy(self) -> None:  # noqa: B027 - optional hook, most services need none
        """One-time set-up that needs the running service (users, buckets)."""

    def check_local(self) -> None:
        """Refuse to manage endpoints that are not on this machine."""
        for port in self.ports():
            if port.address.host not in LOCAL_HOSTS and not port.address.host.startswith("127."):
                raise StackError(
                    f"{port.setting} points at {port.address.host}, not this machine: "
                    "the local stack only serves local endpoints"
                )

    def status(self) -> Status:
        """Running and healthy?"""
        pid = self.pid()
        if pid is None:
            return Status(self.name, None, False, "stopped", self.log_path)
        try:
            return Status(self.name, pid, True, self.probe(), self.log_path)
        except (LambdaError, OSError, psycopg2.Error) as e:
            return Status(self.name, pid, False, f"not answering: {str(e)[:160]}", self.log_path)

    def wait_healthy(self, timeout_s: float) -> str:
        """Poll ``probe`` until it passes; raise ``StackError`` naming the log otherwise."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        gone = 0
        while time.monotonic() < deadline:
            # Two misses in a row, half a second apart, before calling it dead: a process
            # that is exec-ing can look absent for an instant.
            gone = gone + 1 if self.pid() is None else 0
            if gone >= 2:
                raise StackError(
                    f"{self.name} exited during start-up; see {self.log_path}: "
                    f"{_tail(self.log_path)}"
                )
            if not gone:
                try:
                    return self.probe()
                except (LambdaError, OSError, psycopg2.Error) as e:
                    last = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
            time.sleep(0.5)
        raise StackError(
            f"{self.name} did not become healthy within {timeout_s:.0f}s ({last}); "
            f"see {self.log_path}"
        )


class JavaService(Service):
    """A JVM program we launch ourselves and track by pid file."""

    main_class: str
    heap: str
    program: str  # the POM in local_stack/poms naming its jars

    @property
    def pid_path(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def marker(self) -> str:
        # The config file path is unique to this stack folder: it tells our process
        # apart from another stack's on the same machine.
        return str(self.config_path)

    @property
    def config_path(self) -> Path:
        return self.home / f"{self.name}.properties"

    @abstractmethod
    def prepare(self) -> list[str]:
        """Write config, initialise storage; return the program arguments."""

    def jvm_options(self) -> list[str]:
        return [f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true"]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, self.marker) else None

    def foreground_command(self) -> list[str]:
        # The data bypasses the program's own authentication (log segments, objects on
        # disk): only the user running the stack may read it.
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.chmod(0o700)
        args = self.prepare()
        jars = ensure_jars(self.stack_dir, self.program)
        return [_java(), *self.jvm_options(), "-cp", f"{jars}/*", self.main_class, *args]

    def start(self) -> None:
        pid = spawn_detached(self.foreground_command(), self.log_path)
        self.pid_path.write_text(f"{pid}\n")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, self.marker)
        self.pid_path.unlink(missing_ok=True)


class KafkaService(JavaService):
    """Apache Kafka 4.x, single node, combined broker + controller (KRaft)."""

    name = "kafka"
    program = "kafka"
    main_class = "kafka.Kafka"
    heap = "512m"
    # Named listeners (name -> advertised host:port) instead of the single one of
    # KAFKA_BOOTSTRAP_SERVERS; set by ``serve --listener`` (docker-compose.yml).
    listeners: dict[str, HostPort] | None = None

    def ports(self) -> list[Port]:
        broker = self.settings.kafka_servers[0]
        controller = HostPort(broker.host, self.settings.kafka_controller_port)
        return [Port("KAFKA_BOOTSTRAP_SERVERS", broker), Port("KAFKA_CONTROLLER_PORT", controller)]

    def jvm_options(self) -> list[str]:
        return [*super().jvm_options(), f"-Dlog4j2.configurationFile={_conf('kafka-log4j2.xml')}"]

    def listener_properties(self) -> dict[str, str]:
        """The broker's listeners: one PLAINTEXT listener on ``KAFKA_BOOTSTRAP_SERVERS``, or
        the named ones given to ``serve`` (each bound on all interfaces, on its port, and
        advertised as given: one for the other containers, one for the host)."""
        broker, controller = (p.address for p in self.ports())
        if not self.listeners:
            return {
                "controller.quorum.voters": f"1@{broker.host}:{controller.port}",
                "listeners": f"PLAINTEXT://{broker.host}:{broker.port},"
                f"CONTROLLER://{broker.host}:{controller.port}",
                "advertised.listeners": f"PLAINTEXT://{broker.host}:{broker.port}",
                "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name": "PLAINTEXT",
            }
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

    def prepare(self) -> list[str]:
        data = self.home / "data"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            **self.listener_properties(),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(data),
            "num.partitions": str(self.settings.kafka_topic_partitions),
            # A single node can only hold one replica of the internal topics.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        if not (data / "meta.properties").exists():
            self._format(data)
        return [str(self.config_path)]

    def _format(self, data: Path) -> None:
        jars = ensure_jars(self.stack_dir, self.program)
        classpath = f"{jars}/*"
        log4j = f"-Dlog4j2.configurationFile={_conf('kafka-log4j2.xml')}"
        cluster_id = (
            subprocess.run(
                [_java(), log4j, "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        result = subprocess.run(
            [
                _java(),
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

    def probe(self) -> str:
        # A plain TCP connect first: while the broker boots, kafka-python would log every
        # refused connection as an error.
        broker = self.ports()[0].address
        socket.create_connection((_resolve_host(broker.host), broker.port), timeout=2).close()
        brokers = check_broker(self.settings, timeout_s=3)
        return f"{brokers} broker(s) at {self.settings.kafka_bootstrap_servers}"


class S3Service(JavaService):
    """S3Proxy with its filesystem backend: an S3 API over files on disk."""

    name = "s3"
    program = "s3proxy"
    main_class = "org.gaul.s3proxy.Main"
    heap = "256m"

    def ports(self) -> list[Port]:
        endpoint = self.settings.s3_endpoint
        if endpoint is None:
            raise StackError(
                "S3_ENDPOINT_URL is unset (real AWS S3): the local stack needs a local endpoint"
            )
        return [Port("S3_ENDPOINT_URL", endpoint)]

    def jvm_options(self) -> list[str]:
        return [
            *super().jvm_options(),
            f"-Dlogback.configurationFile={_conf('s3proxy-logback.xml')}",
        ]

    def prepare(self) -> list[str]:
        s = self.settings
        if not (s.aws_access_key_id and s.aws_secret_access_key):
            raise StackError(
                "the local S3 server needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        (endpoint,) = (p.address for p in self.ports())
        bind = ALL_INTERFACES if self.bind_all else endpoint.host
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = {
            "s3proxy.endpoint": f"http://{bind}:{endpoint.port}",
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": s.aws_access_key_id,
            "s3proxy.credential": s.aws_secret_access_key.get_secret_value(),
            "jclouds.provider": "filesystem-nio2",
            "jclouds.identity": "local",
            "jclouds.credential": "local",
            "jclouds.filesystem.basedir": str(data),
        }
        # The file holds the local S3 secret: readable by us only.
        self.config_path.touch(mode=0o600, exist_ok=True)
        self.config_path.chmod(0o600)
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return ["--properties", str(self.config_path)]

    def probe(self) -> str:
        # list_buckets, not head_bucket: the bucket does not exist before the first start.
        try:
            S3ObjectStore(self.settings).client.list_buckets()
        except (BotoCoreError, ClientError) as e:
            raise ServiceUnavailable(f"S3 server not answering: {type(e).__name__}") from e
        return f"S3 API at {self.settings.s3_endpoint_url}"

    def after_healthy(self) -> None:
        S3ObjectStore(self.settings).ensure_bucket()


_HBA_MARKER = "# local_stack serve: the container's network"


def _pg_bindir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise StackError(
        "PostgreSQL server binaries not found: run 'make deps' as root, "
        "or apt-get install postgresql-15"
    )


class PostgresService(Service):
    """PostgreSQL from the distribution, in a data directory of the stack.

    PostgreSQL refuses to run as root; when we are root it runs as the ``postgres`` system
    user (created by the Debian package). A superuser password is generated on first
    start and kept in the stack folder; the pipeline connects as the ``WAREHOUSE_DSN``
    user, which owns its database and nothing else, and whatever reads for people as the
    ``QUERY_DSN`` user, which may only connect (its reads are the pipeline's to grant).
    """

    name = "postgres"
    run_as = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
    stop_signal = signal.SIGINT

    def __init__(self, settings: Settings, stack_dir: Path, *, bind_all: bool = False) -> None:
        super().__init__(settings, stack_dir, bind_all=bind_all)
        self.as_root = os.geteuid() == 0

    # Paths handed to PostgreSQL are resolved: when the home is a symlink (see
    # _place_home) the postgres user can follow the target but not the checkout's path.
    @property
    def data(self) -> Path:
        return self.home.resolve() / "data"

    @property
    def log_path(self) -> Path:
        return self.home.resolve() / f"{self.name}.log"

    def _place_home(self) -> None:
        """Make sure the ``postgres`` user can reach the data directory (root only)."""
        if not self.as_root or self.home.is_symlink() or self.home.exists():
            return
        if self._reachable_by_run_as(self.stack_dir):
            return
        # The postgres user cannot reach the checkout (e.g. it lives under /root): keep the
        # data under /var/lib and leave a symlink in the stack folder so it is found there.
        digest = hashlib.sha256(str(self.stack_dir).encode()).hexdigest()[:16]
        real = Path("/var/lib/lambda-stack") / digest
        real.mkdir(parents=True, exist_ok=True)
        self.home.symlink_to(real, target_is_directory=True)
        logger.info("postgres cannot reach %s; its data lives in %s", self.stack_dir, real)

    def _reachable_by_run_as(self, path: Path) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["runuser", "-u", self.run_as, "--", "test", "-x", str(path.resolve())],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    @property
    def superuser_password_path(self) -> Path:
        return self.home.resolve() / "superuser.pw"

    def ports(self) -> list[Port]:
        dsn = self.settings.warehouse
        return [Port("WAREHOUSE_DSN", HostPort(dsn.host, dsn.port))]

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        return subprocess.run(
            argv, capture_output=True, text=True, check=check, start_new_session=True
        )

    def _own(self, path: Path) -> None:
        if self.as_root:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid, "postgres") else None

    def _init(self) -> None:
        bindir = _pg_bindir()
        if self.as_root:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise StackError(
                    f"running as root needs the '{self.run_as}' system user "
                    "(apt-get install postgresql)"
                ) from None
        self.home.mkdir(parents=True, exist_ok=True)
        self._own(self.home)
        self.home.chmod(0o700)
        pw_file = self.superuser_password_path
        pw_file.write_text(secrets.token_urlsafe(24) + "\n")
        pw_file.chmod(0o600)
        self._own(pw_file)
        result = self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pw_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise StackError(f"initdb failed: {(result.stdout + result.stderr).strip()[-300:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'lambda.conf'\n")
        logger.info("initialised PostgreSQL data directory %s", self.data)

    def _configure(self) -> None:
        """Initialise the data directory on first use and write our part of the config."""
        if not (self.data / "PG_VERSION").exists():
            self._place_home()
            self._init()
        (address,) = (p.address for p in self.ports())
        if self.bind_all:
            listen = "*"
        else:
            listen = "localhost" if address.host == "localhost" else address.host
        conf = self.data / "lambda.conf"
        conf.write_text(
            "# Written by local_stack on every start: edit the settings, not this file.\n"
            f"port = {address.port}\n"
            f"listen_addresses = '{listen}'\n"
            "unix_socket_directories = ''\n"  # TCP only: no socket path length or permission issues
            "max_connections = 100\n"
            "shared_buffers = 128MB\n"
            "logging_collector = off\n"
        )
        self._own(conf)
        if self.bind_all:
            self._allow_network()

    def _allow_network(self) -> None:
        """Let the pipeline's role in from the container's own network (the other
        containers, and the host through the published port); the superuser stays
        reachable only from inside the container."""
        hba = self.data / "pg_hba.conf"
        text = hba.read_text()
        if _HBA_MARKER not in text:
            hba.write_text(
                text.rstrip("\n")
                + f"\n\n{_HBA_MARKER}\n"
                + "host all postgres samenet reject\n"
                + "host all all samenet scram-sha-256\n"
            )

    def foreground_command(self) -> list[str]:
        self._configure()
        argv = [str(_pg_bindir() / "postgres"), "-D", str(self.data)]
        return ["runuser", "-u", self.run_as, "--", *argv] if self.as_root else argv

    def start(self) -> None:
        self._configure()
        self.log_path.touch(exist_ok=True)
        self._own(self.log_path)
        result = self._run(
            [
                str(_pg_bindir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"postgres failed to start; see {self.log_path}: {_tail(self.log_path, 3)}"
            )

    def _admin_connect(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        address = self.ports()[0].address
        return psycopg2.connect(
            # In a container the superuser may only come from inside it (_allow_network).
            host="127.0.0.1" if self.bind_all else _resolve_host(address.host),
            port=address.port,
            user="postgres",
            dbname=dbname,
            password=self.superuser_password_path.read_text().strip(),
            connect_timeout=3,
        )

    def probe(self) -> str:
        with contextlib.closing(self._admin_connect()) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
        return f"PostgreSQL {row[0] if row else '?'} on port {self.ports()[0].address.port}"

    def after_healthy(self) -> None:
        """Create (or update) the pipeline's role and database from ``WAREHOUSE_DSN``, and
        the reader role of ``QUERY_DSN`` (see :meth:`_ensure_reader`)."""
        dsn = self.settings.warehouse
        reader = self.settings.query
        if "postgres" in (dsn.user, reader.user):
            raise StackError(
                "WAREHOUSE_DSN and QUERY_DSN must not use the superuser 'postgres': "
                "name a pipeline user and a reader user"
            )
        if reader.user == dsn.user:
            raise StackError(
                f"QUERY_DSN must name a user of its own, not the pipeline's {dsn.user!r}: "
                "the reader may only read"
            )
        with contextlib.closing(self._admin_connect()) as conn:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (dsn.user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(
                    sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD %s").format(
                        sql.Identifier(dsn.user)
                    ),
                    (dsn.password,),
                )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dsn.dbname,))
                if cur.fetchone() is None:
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(dsn.dbname), sql.Identifier(dsn.user)
                        )
                    )
                    logger.info("created database %s owned by %s", dsn.dbname, dsn.user)
                self._ensure_reader(cur, reader.user, reader.password, dsn.dbname)
        with contextlib.closing(self._admin_connect(dsn.dbname)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for statement in statements(load_sql("reader_database_setup", "postgres")):
                    cur.execute(statement)

    def _ensure_reader(
        self, cur: psycopg2.extensions.cursor, user: str, password: str, dbname: str
    ) -> None:
        """Create QUERY_DSN's user if missing, then (re)apply what it may do: log in and
        connect to the pipeline's database, nothing more. Its reads of the tables are
        granted by the pipeline's role, which owns them (``Warehouse.ensure_schema``)."""
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(user)))
            logger.info("created the reader role %s", user)
        names = {"reader": sql.Identifier(user), "database": sql.Identifier(dbname)}
        for statement in statements(load_sql("reader_role_setup", "postgres")):
            cur.execute(sql.SQL(statement).format(**names), {"password": password})

    def stop(self) -> None:
        if self.pid() is None:
            return
        result = self._run(
            [
                str(_pg_bindir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ],
            check=False,
        )
        if result.returncode != 0 and self.pid() is not None:
            raise StackError(
                f"postgres did not stop: {(result.stdout + result.stderr).strip()[-200:]}"
            )


SERVICE_TYPES: tuple[type[Service], ...] = (KafkaService, PostgresService, S3Service)
