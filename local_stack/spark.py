"""A Spark standalone cluster on this machine (``make spark-up``): a master and
``SPARK_WORKERS`` workers, run from pyspark's own distribution (its ``bin/spark-class``; pip's
pyspark has no ``sbin/start-master.sh``), for ``SPARK_MASTER=spark://127.0.0.1:7077``.

Like the other services of the local stack, each daemon keeps its properties file, pid file
and log under ``<stack>/spark/<name>/``, is started detached and is told apart from another
stack's by its properties file's path on its command line. Everything listens on 127.0.0.1:
the cluster is for one machine, where every node sees the same files (the speed layer's
checkpoint among them).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lambda_common.errors import ServiceUnavailable, StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings
from local_stack.process import free_ports
from local_stack.service import PidFileService, Port, java_command
from local_stack.stack import START_TIMEOUT_S, LocalStack, check_ports_free

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# The daemons' own heap (Spark's default is 1g each): they only schedule; executors get
# SPARK_WORKER_MEMORY.
DAEMON_MEMORY = "512m"


def spark_home() -> Path:
    """pyspark's installation: a Spark distribution with ``bin/spark-class`` and ``jars/``."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("pyspark is not installed: run 'make venv'")
    return Path(next(iter(spec.submodule_search_locations)))


def master_url(settings: Settings) -> str:
    """The URL the cluster's master takes applications at (what SPARK_MASTER names)."""
    return f"spark://{HOST}:{settings.spark_master_port}"


def cluster_settings(settings: Settings, folder: Path, workers: int) -> Settings:
    """``settings`` for a cluster of its own (a benchmark's, a test's): state in ``folder``,
    ``workers`` workers, every port free now, so a ``make spark-up`` cluster is neither
    used nor disturbed."""
    return settings.model_copy(
        update={
            "local_stack_dir": folder,
            "spark_workers": workers,
            "spark_master_port": free_ports(1, HOST),
            "spark_master_webui_port": free_ports(1, HOST),
            "spark_worker_webui_port": free_ports(workers, HOST),
        }
    )


class SparkDaemon(PidFileService):
    """A master or worker JVM of the standalone cluster, tracked by pid file."""

    main_class: str

    def __init__(self, settings: Settings, stack_dir: Path) -> None:
        super().__init__(settings, stack_dir)
        self.home = stack_dir / "spark" / self.name

    @property
    def properties_path(self) -> Path:
        return self.home / "spark.properties"

    @property
    def marker(self) -> str:
        return str(self.properties_path)

    def properties(self) -> dict[str, str]:
        """Spark properties of the daemon (written to its properties file)."""
        return {}

    def arguments(self) -> list[str]:
        """The daemon's arguments after its main class."""
        return ["--host", HOST, "--properties-file", str(self.properties_path)]

    def environment(self) -> dict[str, str]:
        """The daemon's environment: ours, with pyspark as SPARK_HOME (not another Spark
        the machine may have) and loopback as the address it binds and advertises."""
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        }

    def foreground_command(self) -> list[str]:
        java_command()  # a one-line error when Java is missing, before spark-class says less
        self.home.mkdir(parents=True, exist_ok=True)
        self.properties_path.write_text("".join(f"{k} {v}\n" for k, v in self.properties().items()))
        spark_class = spark_home() / "bin" / "spark-class"
        return [str(spark_class), self.main_class, *self.arguments()]

    def master_state(self) -> dict[str, Any]:
        """The master's view of the cluster (its web UI's ``/json``)."""
        url = f"http://{HOST}:{self.settings.spark_master_webui_port}/json"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                state: dict[str, Any] = json.load(response)
        except (OSError, ValueError) as e:  # URLError is an OSError
            raise ServiceUnavailable(f"Spark master UI {url} not answering: {e}") from e
        return state


class SparkMaster(SparkDaemon):
    """The standalone master: takes applications at ``spark://127.0.0.1:SPARK_MASTER_PORT``."""

    name = "master"
    main_class = MASTER_CLASS

    def ports(self) -> list[Port]:
        s = self.settings
        return [
            Port("SPARK_MASTER_PORT", HostPort(HOST, s.spark_master_port)),
            Port("SPARK_MASTER_WEBUI_PORT", HostPort(HOST, s.spark_master_webui_port)),
        ]

    def properties(self) -> dict[str, str]:
        # The REST submission server would take one more port (6066); nothing uses it.
        return {"spark.master.rest.enabled": "false"}

    def arguments(self) -> list[str]:
        s = self.settings
        return [
            *super().arguments(),
            "--port",
            str(s.spark_master_port),
            "--webui-port",
            str(s.spark_master_webui_port),
        ]

    def probe(self) -> str:
        state = self.master_state()
        if state.get("status") != "ALIVE":
            raise ServiceUnavailable(f"Spark master is {state.get('status', 'starting')}")
        # No worker count: at start the master answers before its workers register (each
        # worker's own line says it registered).
        return (
            f"{master_url(self.settings)}, UI http://{HOST}:{self.settings.spark_master_webui_port}"
        )


class SparkWorker(SparkDaemon):
    """Worker ``index`` (from 1): offers SPARK_WORKER_CORES and SPARK_WORKER_MEMORY to the
    master's applications; their executors run in its work folder."""

    main_class = WORKER_CLASS

    def __init__(self, settings: Settings, stack_dir: Path, index: int) -> None:
        self.index = index
        self.name = f"worker-{index}"
        super().__init__(settings, stack_dir)

    @property
    def webui_port(self) -> int:
        return self.settings.spark_worker_webui_port + self.index - 1

    @property
    def work_dir(self) -> Path:
        """Where the worker runs executors: their stdout, stderr and fetched files."""
        return self.home / "work"

    def ports(self) -> list[Port]:
        # Its RPC port is left to the system (Spark's default for workers): only the
        # master's and the UIs' are fixed.
        return [Port("SPARK_WORKER_WEBUI_PORT", HostPort(HOST, self.webui_port))]

    def properties(self) -> dict[str, str]:
        # Finished applications' folders (executor logs, the shipped code and jars) are
        # removed after Spark's default TTL (7 days) rather than kept forever.
        return {"spark.worker.cleanup.enabled": "true"}

    def arguments(self) -> list[str]:
        s = self.settings
        return [
            *super().arguments(),
            "--webui-port",
            str(self.webui_port),
            "--cores",
            str(s.spark_worker_cores),
            "--memory",
            s.spark_worker_memory,
            "--work-dir",
            str(self.work_dir),
            master_url(s),
        ]

    def probe(self) -> str:
        # Registered with the master is what makes a worker useful: its own UI answers
        # before that (and while the master is away).
        address = re.compile(rf":{self.webui_port}/?$")
        for worker in self.master_state().get("workers", []):
            if worker.get("state") == "ALIVE" and address.search(worker.get("webuiaddress", "")):
                return (
                    f"{worker.get('cores')} core(s), {worker.get('memory')} MB, "
                    f"registered with {master_url(self.settings)}"
                )
        raise ServiceUnavailable(f"{self.name} not registered with the master yet")


class SparkCluster(LocalStack):
    """The master and SPARK_WORKERS workers, under ``<stack>/spark``: ``up`` (idempotent,
    every port checked before anything starts), ``down``, ``status``."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, services=())
        self.services = {
            svc.name: svc for svc in self._daemons(range(1, settings.spark_workers + 1))
        }

    def up(
        self, names: Sequence[str] | None = None, timeout_s: float = START_TIMEOUT_S
    ) -> list[str]:
        """Start the master, wait until it answers, then the workers: a worker started
        before its master listens waits out a registration retry (5 to 15 s)."""
        if names:
            return super().up(names, timeout_s)
        check_ports_free([svc for svc in self.services.values() if svc.pid() is None])
        master = super().up(["master"], timeout_s)
        return master + super().up(None, timeout_s)[1:]

    def _daemons(self, workers: Iterable[int]) -> list[SparkDaemon]:
        master = SparkMaster(self.settings, self.stack_dir)
        return [master, *(SparkWorker(self.settings, self.stack_dir, i) for i in workers)]

    def _started_workers(self) -> list[int]:
        """Workers with a pid file: those of an earlier ``up`` with more SPARK_WORKERS too."""
        found = (p.parent.name for p in (self.stack_dir / "spark").glob("worker-*/*.pid"))
        return sorted(int(n.removeprefix("worker-")) for n in found if n[7:].isdigit())

    def down(self, names: Sequence[str] | None = None) -> list[str]:
        """Stop every worker started here (whatever SPARK_WORKERS says now), then the
        master."""
        if names:
            return super().down(names)
        workers = sorted({*range(1, self.settings.spark_workers + 1), *self._started_workers()})
        self.services = {svc.name: svc for svc in self._daemons(workers)}
        return super().down()
