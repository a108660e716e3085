"""The local Spark standalone cluster (``make spark-up``) without starting Spark: its
settings, the daemons' command lines and properties, a taken port refused before anything
starts, and ``down`` stopping workers an earlier ``up`` started."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_common.errors import ConfigError, StackError
from lambda_common.settings import Settings, load_settings
from local_stack.cli import main
from local_stack.process import free_ports
from local_stack.spark import MASTER_CLASS, WORKER_CLASS, SparkCluster, spark_home


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no developer .env
    return load_settings(
        local_stack_dir=tmp_path / "stack",
        spark_master_port=free_ports(1),
        spark_master_webui_port=free_ports(1),
        spark_worker_webui_port=free_ports(1),
    )


def test_cluster_settings_default_to_two_one_core_workers(settings: Settings) -> None:
    defaults = load_settings()
    assert (defaults.spark_workers, defaults.spark_master_port) == (2, 7077)
    assert (defaults.spark_worker_cores, defaults.spark_worker_memory) == (1, "1g")
    assert (defaults.spark_master_webui_port, defaults.spark_worker_webui_port) == (8080, 8081)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("spark_workers", 0),
        ("spark_workers", 17),
        ("spark_worker_memory", "lots"),
        ("spark_worker_cores", 0),
        ("spark_master_port", 70000),
    ],
)
def test_bad_cluster_settings_are_refused_naming_them(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"invalid setting {name.upper()}"):
        load_settings(**{name: value})


def test_daemons_run_from_pyspark_on_loopback(settings: Settings) -> None:
    cluster = SparkCluster(settings.model_copy(update={"spark_workers": 3}))
    assert list(cluster.services) == ["master", "worker-1", "worker-2", "worker-3"]
    spark_class = str(spark_home() / "bin" / "spark-class")
    home = settings.local_stack_dir.resolve() / "spark"

    master = cluster.services["master"].foreground_command()
    assert master[:2] == [spark_class, MASTER_CLASS]
    assert _options(master) == {
        "--host": "127.0.0.1",
        "--port": str(settings.spark_master_port),
        "--webui-port": str(settings.spark_master_webui_port),
        "--properties-file": str(home / "master" / "spark.properties"),
    }
    assert "spark.master.rest.enabled false" in (home / "master/spark.properties").read_text()

    worker = cluster.services["worker-3"].foreground_command()
    assert worker[:2] == [spark_class, WORKER_CLASS]
    assert worker[-1] == f"spark://127.0.0.1:{settings.spark_master_port}"
    assert _options(worker[:-1]) == {
        "--host": "127.0.0.1",
        "--webui-port": str(settings.spark_worker_webui_port + 2),
        "--cores": "1",
        "--memory": "1g",
        "--work-dir": str(home / "worker-3" / "work"),
        "--properties-file": str(home / "worker-3" / "spark.properties"),
    }
    ports = [(p.setting, p.address.port) for p in cluster.services["worker-2"].ports()]
    assert ports == [("SPARK_WORKER_WEBUI_PORT", settings.spark_worker_webui_port + 1)]


def _options(argv: list[str]) -> dict[str, str]:
    args = argv[2:]
    return dict(zip(args[::2], args[1::2], strict=True))


def test_a_taken_port_fails_naming_its_setting_before_anything_starts(
    settings: Settings,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.spark_master_webui_port))
        taken.listen()
        with pytest.raises(StackError, match="SPARK_MASTER_WEBUI_PORT") as error:
            SparkCluster(settings).up()
    assert "\n" not in str(error.value)
    assert not list((settings.local_stack_dir / "spark").glob("*/*.pid"))


@pytest.fixture
def stray_worker(settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    """A process standing in for worker 3 of an earlier ``up`` with SPARK_WORKERS=3: its
    command line holds the worker's properties file, as a real one's does."""
    home = settings.local_stack_dir.resolve() / "spark" / "worker-3"
    home.mkdir(parents=True)
    marker = str(home / "spark.properties")
    process = subprocess.Popen(["sh", "-c", "sleep 60; true", marker])
    (home / "worker-3.pid").write_text(f"{process.pid}\n")
    yield process
    process.kill()
    process.wait()


def test_down_stops_the_workers_an_earlier_up_started(
    settings: Settings, stray_worker: subprocess.Popen[bytes]
) -> None:
    cluster = SparkCluster(settings)
    status = {st.name: (st.pid, st.detail) for st in cluster.status()}
    assert status == {name: (None, "stopped") for name in ("master", "worker-1", "worker-2")}
    lines = cluster.down()
    assert [line.split()[0] for line in lines] == ["worker-3", "worker-2", "worker-1", "master"]
    assert lines[0].split()[1] == "stopped"
    assert stray_worker.wait(timeout=10) != 0  # SIGTERM'd
    assert all("already stopped" in line for line in lines[1:])


def test_spark_commands_take_no_service_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["spark-up", "kafka"])
    assert exit_info.value.code == 2
    assert "takes no service names" in capsys.readouterr().err


def test_free_ports_are_consecutive_and_bindable() -> None:
    first = free_ports(3)
    for port in range(first, first + 3):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
