"""The speed job's Spark session: its properties, the jars it adds (``classpath``), and what
the executors of a cluster need (the code the parse step imports, the interpreter).

Local (``local[...]``) or a standalone master on loopback share this machine's files,
loopback address and virtualenv; a cluster elsewhere gets the code as a zip and must have
the interpreter itself (see ``driver_environment``).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_common.settings import Settings
from speed_layer.classpath import Classpath, artifact, job_classpath


def spark_classpath(settings: Settings) -> Classpath:
    """The connector's jars (and Amazon's MSK IAM sign-in's, with AWS_MSK_IAM) for the
    installed pyspark, minus those it already ships; packages for what was not fetched."""
    import pyspark

    shipped = {artifact(p.name) for p in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return job_classpath(settings, pyspark.__version__, shipped)


def _quiet(spark: Any, logger_name: str) -> None:
    """Only errors from one of Spark's loggers. The trigger executor warns "falling behind"
    at every micro-batch that takes longer than the trigger, which on a small machine is
    every one: the job's own line per micro-batch already reports its duration, and the
    warning buried it in the log."""
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        logger_name, jvm.org.apache.logging.log4j.Level.ERROR
    )


def one_machine(master: str) -> bool:
    """Whether ``master`` runs every executor on this machine: ``local[...]``, or a
    standalone master on loopback (``make spark-up``). Such a cluster shares this machine's
    files, its loopback address and this virtualenv's interpreter."""
    if master.startswith("local"):
        return True
    parts = urlsplit(master)
    # spark://h1:7077,h2:7077 names several masters (standby ones): all must be local.
    hosts = [h.rsplit(":", 1)[0] for h in parts.netloc.split(",")]
    return parts.scheme == "spark" and all(h == "localhost" or h.startswith("127.") for h in hosts)


def driver_environment(master: str, python: str) -> dict[str, str]:
    """Variables the driver sets, unless already set, before Spark starts.

    On one machine: stay on loopback rather than guess a public interface (executors of a
    local cluster reach the driver there), and run the parse step in ``python``, this very
    interpreter, whose virtualenv has pyspark and pyarrow, rather than whatever "python3"
    is first on PATH. pyspark sends the driver's PYSPARK_PYTHON to the executors with each
    Python step, so on a cluster of several machines it must name an interpreter every
    node has: set it there (nothing is assumed).
    """
    if not one_machine(master):
        return {}
    return {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": python}


def session_config(settings: Settings, classpath: Classpath, cores: int) -> dict[str, str]:
    """The Spark properties of the job's session: ``classpath`` what it adds to Spark's
    (``spark_classpath``), ``cores`` this machine's."""
    master = settings.spark_master
    conf = {
        "spark.sql.session.timeZone": "UTC",
        # State for tweet_ids within the retention window can be large: RocksDB keeps it
        # off the JVM heap, and changelog checkpointing makes each commit small.
        "spark.sql.streaming.stateStore.providerClass": (
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
        ),
        "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
        # Counting the state's rows costs a read before every write; nothing reads the count.
        "spark.sql.streaming.stateStore.rocksdb.trackTotalNumberOfRows": "false",
        "spark.ui.showConsoleProgress": "false",
        # Source options whose name or value matches are shown as *** in plans, the UI and
        # logs: the Kafka source's JAAS option carries the SASL password.
        "spark.sql.redaction.options.regex": "(?i)url|jaas|password|secret",
    }
    if one_machine(master):
        # 200 shuffle partitions (Spark's default) means 200 state-store tasks per
        # stateful operator and micro-batch; one per core is what a machine can run at
        # once, however many workers share it. Fixed per checkpoint once started.
        conf["spark.sql.shuffle.partitions"] = str(cores)
    if master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
    # On a cluster the driver serves these jars to the executors (they read Kafka).
    if classpath.jars:
        conf["spark.jars"] = ",".join(str(j) for j in classpath.jars)
    if classpath.packages:
        conf["spark.jars.packages"] = ",".join(classpath.packages)
    return conf


def build_session(settings: Settings, scratch: Path | None = None) -> Any:
    """A SparkSession configured for the job (the master from ``SPARK_MASTER``). Not on
    ``local[...]``, the executors get the code the parse step imports as a zip written in
    ``scratch`` (a folder that must outlive the session; default: a new temporary one)."""
    from pyspark.sql import SparkSession

    master = settings.spark_master
    for name, value in driver_environment(master, sys.executable).items():
        os.environ.setdefault(name, value)
    conf = session_config(settings, spark_classpath(settings), os.cpu_count() or 2)
    builder = SparkSession.builder.appName("lambda-speed-layer").master(master)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    _quiet(spark, "org.apache.spark.sql.execution.streaming.ProcessingTimeExecutor")
    if not master.startswith("local"):
        folder = scratch or Path(tempfile.mkdtemp(prefix="lambda-speed-"))
        # Executors import the parse step's modules from the zip, ahead of anything installed
        # where they run: they need pyspark there, not this checkout.
        spark.sparkContext.addPyFile(str(code_archive(folder)))
    return spark


CODE_PACKAGES = ("lambda_common", "speed_layer")
"""The packages the executors import: the parse step's module and what it imports."""


def code_archive(folder: Path) -> Path:
    """A zip of ``CODE_PACKAGES`` (their sources and data files, no bytecode) in
    ``folder``, importable from ``sys.path`` as it is (what ``addPyFile`` ships)."""
    archive = folder / "lambda_code.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in CODE_PACKAGES:
            root = Path(str(importlib.import_module(name).__file__)).parent
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                    zf.write(path, path.relative_to(root.parent).as_posix())
    return archive
