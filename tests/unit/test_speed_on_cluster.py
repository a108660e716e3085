"""The speed job's side of running on a cluster, without Spark: which masters are one
machine, what the driver sets for them, its session's properties per master, and the code
zip the executors import."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambda_common.settings import load_settings
from speed_layer.classpath import Classpath
from speed_layer.session import code_archive, driver_environment, one_machine, session_config


@pytest.mark.parametrize(
    ("master", "local"),
    [
        ("local[*]", True),
        ("local[2]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:27077", True),
        ("spark://127.0.0.1:7077,127.0.0.1:7078", True),
        ("spark://127.0.0.1:7077,10.0.0.2:7077", False),
        ("spark://10.0.0.5:7077", False),
        ("yarn", False),
        ("k8s://https://127.0.0.1:6443", False),
    ],
)
def test_one_machine_masters(master: str, local: bool) -> None:
    assert one_machine(master) is local


def test_the_driver_names_its_interpreter_and_loopback_on_one_machine_only() -> None:
    assert driver_environment("spark://127.0.0.1:7077", "/venv/bin/python") == {
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": "/venv/bin/python",
    }
    assert driver_environment("spark://spark-master:7077", "/venv/bin/python") == {}


def test_session_config_per_master(tmp_path: Path) -> None:
    jar = tmp_path / "kafka-clients-3.9.0.jar"

    def conf(master: str, jars: list[Path]) -> dict[str, str]:
        packages = () if jars else ("org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0",)
        classpath = Classpath(tuple(jars), packages)
        return session_config(load_settings(spark_master=master), classpath, 2)

    local = conf("local[*]", [jar])
    assert local["spark.sql.shuffle.partitions"] == "2"
    assert local["spark.ui.enabled"] == "false"
    assert local["spark.jars"] == str(jar)
    cluster = conf("spark://127.0.0.1:7077", [jar])
    # The executors fetch the connector from the driver; the application has its UI.
    assert cluster["spark.jars"] == str(jar) and "spark.ui.enabled" not in cluster
    assert cluster["spark.sql.shuffle.partitions"] == "2"
    remote = conf("spark://spark-master:7077", [])
    assert "spark.sql.shuffle.partitions" not in remote  # the cluster's own to choose
    assert remote["spark.jars.packages"] == "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.0"
    assert {k: v for k, v in local.items() if k.startswith("spark.sql.streaming")} == {
        k: v for k, v in remote.items() if k.startswith("spark.sql.streaming")
    }


def test_the_code_zip_is_all_the_parse_step_needs_besides_what_is_installed(
    tmp_path: Path,
) -> None:
    archive = code_archive(tmp_path)
    names = zipfile.ZipFile(archive).namelist()
    assert {"speed_layer/parse.py", "lambda_common/contract/parse.py"} <= set(names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]
    # An interpreter without site-packages (so without this checkout's editable install)
    # imports the parse step from the zip alone and runs it, as an executor's Python does
    # (pyarrow, which only parse_batches imports, comes from where the executors run).
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from speed_layer.parse import parse_message; import speed_layer.parse as m;"
        "assert m.__file__.startswith(sys.argv[1]), m.__file__;"
        "print(parse_message(b'{not json', 0).reject)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(archive)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() not in ("", "None")
