"""A service of the local stack and how to start, probe and stop it: the common interface
(:class:`Service`), the programs we launch and track by pid file (:class:`PidFileService`:
Spark's daemons and Prometheus too) and the Java ones (:class:`JavaService`). The services
themselves: Kafka in :mod:`local_stack.kafka_node`, S3Proxy in :mod:`local_stack.s3proxy`,
PostgreSQL in :mod:`local_stack.postgres`, Spark in :mod:`local_stack.spark`.

Each service keeps its data, config, log and pid under ``<stack>/<name>/``. Services are
started detached (their own session, reparented to init) so they outlive the command
that started them and a Ctrl-C in the terminal does not reach them.
"""

from __future__ import annotations

import logging
import shutil
import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg2

from lambda_common.errors import LambdaError, StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings
from local_stack.jars import ensure_jars
from local_stack.process import log_tail, pid_alive, spawn_detached, stop_pid

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


def conf_file(name: str) -> Path:
    return Path(str(resources.files("local_stack") / "conf" / name))


def java_command() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "Java 17+ is needed for Kafka and the S3 server: "
            "apt-get install openjdk-17-jre-headless"
        )
    return java


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
                    f"{log_tail(self.log_path)}"
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


class PidFileService(Service):
    """A program we launch ourselves, detached, and track by pid file; told apart from
    another stack's by ``marker`` on its command line."""

    @property
    def pid_path(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    @abstractmethod
    def marker(self) -> str:
        """A file's path on the program's command line: unique to this stack folder, the
        pid check's marker."""

    def environment(self) -> dict[str, str] | None:
        """The program's environment (None: ours)."""
        return None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, self.marker) else None

    def start(self) -> None:
        argv = self.foreground_command()
        pid = spawn_detached(argv, self.log_path, env=self.environment())
        self.pid_path.write_text(f"{pid}\n")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, self.marker)
        self.pid_path.unlink(missing_ok=True)


class JavaService(PidFileService):
    """A JVM program we launch ourselves and track by pid file."""

    main_class: str
    heap: str
    program: str  # the POM in local_stack/poms naming its jars

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

    def foreground_command(self) -> list[str]:
        # The data bypasses the program's own authentication (log segments, objects on
        # disk): only the user running the stack may read it.
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.chmod(0o700)
        args = self.prepare()
        jars = ensure_jars(self.stack_dir, self.program)
        return [java_command(), *self.jvm_options(), "-cp", f"{jars}/*", self.main_class, *args]
