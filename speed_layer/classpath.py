"""The jars the speed job adds to Spark, for the Spark it runs on: Spark's Kafka source
(the connector, built for that Spark's Scala), and with ``KAFKA_SASL_MECHANISM=AWS_MSK_IAM``
Amazon's IAM sign-in for MSK.

Each comes from a folder of jars fetched beforehand (``make jars``, ``make venv-spark35``,
or ``SPARK_KAFKA_JARS``), so the job starts offline; where none was fetched, as Maven
coordinates that Spark resolves at start (``spark.jars.packages``, what ``spark-submit
--packages`` does), which needs Maven Central then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lambda_common.errors import LambdaError
from lambda_common.settings import Settings

CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10"
"""The connector's Maven group and artifact, less its Scala suffix."""

MSK_IAM_PACKAGE = "software.amazon.msk:aws-msk-iam-auth:2.4.0"
"""Amazon's ``IAMLoginModule`` and ``IAMClientCallbackHandler`` (plain Java: one version
serves every Spark); ``local_stack/poms/msk-iam.xml`` fetches the same version."""

MSK_IAM_FOLDER = "msk-iam"
"""Its folder under ``LOCAL_STACK_DIR/jars`` (``make jars`` with AWS_MSK_IAM)."""

OLDEST_SPARK = (3, 5)
"""``dropDuplicatesWithinWatermark``, the job's de-duplication, came with Spark 3.5."""

_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Classpath:
    """What the job adds to Spark: ``jars`` on this machine (``spark.jars``; on a cluster
    the driver serves them to the executors), ``packages`` for Spark to resolve."""

    jars: tuple[Path, ...] = ()
    packages: tuple[str, ...] = ()


def spark_release(spark_version: str) -> tuple[int, int, int]:
    """``3.5.6-amzn-1`` (a vendor's build, as on Amazon EMR) -> ``(3, 5, 6)``: the Apache
    release it is built from, whose artifacts Maven Central has. Refuses a Spark older
    than the job can run on."""
    match = _RELEASE.match(spark_version)
    if match is None:
        raise LambdaError(f"cannot read Spark's version {spark_version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    if (major, minor) < OLDEST_SPARK:
        raise LambdaError(
            f"Spark {spark_version}: the speed job needs Spark 3.5 or later "
            "(its de-duplication, dropDuplicatesWithinWatermark, came with 3.5)"
        )
    return major, minor, patch


def scala_version(spark_version: str) -> str:
    """The Scala of ``spark_version``'s usual build: 2.12 for Spark 3.5 (pyspark's on PyPI,
    and Amazon EMR 7.x's), 2.13 from Spark 4 on (its only one)."""
    return "2.12" if spark_release(spark_version)[0] == 3 else "2.13"


def connector_package(spark_version: str) -> str:
    """The connector's Maven coordinates for ``spark_version`` (a vendor suffix dropped)."""
    release = ".".join(str(n) for n in spark_release(spark_version))
    return f"{CONNECTOR}_{scala_version(spark_version)}:{release}"


def connector_folder(settings: Settings, spark_version: str) -> Path:
    """Where the connector's jars are fetched: ``SPARK_KAFKA_JARS`` if set, else the local
    stack's folder for this Spark (``spark-kafka`` for Spark 4, ``spark-kafka-3.5``), each
    resolved by the POM of that name in ``local_stack/poms``."""
    if settings.spark_kafka_jars:
        return Path(settings.spark_kafka_jars)
    name = "spark-kafka" if spark_release(spark_version)[0] >= 4 else "spark-kafka-3.5"
    return settings.local_stack_dir / "jars" / name


_VERSION_SUFFIX = re.compile(r"-\d+(?:\.\d+)+(?:[-.][A-Za-z][A-Za-z0-9]*)?$")


def artifact(jar_name: str) -> str:
    """``kafka-clients-3.9.0.jar`` -> ``kafka-clients`` (the trailing version dropped)."""
    return _VERSION_SUFFIX.sub("", jar_name.removesuffix(".jar"))


def _jars(folder: Path) -> list[Path]:
    """The folder's jars, as absolute paths: Spark resolves a relative one against the
    working directory of whichever JVM reads it (LOCAL_STACK_DIR is relative by default)."""
    return sorted(folder.resolve().glob("*.jar")) if folder.is_dir() else []


def job_classpath(settings: Settings, spark_version: str, shipped: Iterable[str]) -> Classpath:
    """The connector for ``spark_version`` and, with AWS_MSK_IAM, Amazon's sign-in: jars
    where fetched, else packages. ``shipped`` names the artifacts Spark has already (see
    ``artifact``): left out, since two versions of one library on the classpath are
    worse than the one Spark was tested with."""
    folder = connector_folder(settings, spark_version)
    if settings.spark_kafka_jars and not folder.is_dir():
        raise LambdaError(f"SPARK_KAFKA_JARS={folder} is not a folder")
    jars = _jars(folder)
    packages = [] if jars else [connector_package(spark_version)]
    if settings.kafka_sasl_mechanism == "AWS_MSK_IAM":
        present = {artifact(p.name) for p in jars}
        if "aws-msk-iam-auth" not in present:  # else put beside the connector by hand
            fetched = _jars(settings.local_stack_dir / "jars" / MSK_IAM_FOLDER)  # make jars
            jars += [p for p in fetched if artifact(p.name) not in present]
            if not fetched:
                packages.append(MSK_IAM_PACKAGE)
    skip = set(shipped)
    return Classpath(tuple(p for p in jars if artifact(p.name) not in skip), tuple(packages))
