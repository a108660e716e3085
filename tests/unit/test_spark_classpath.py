"""What the speed job adds to Spark on Spark 3.5 (Scala 2.12, Amazon EMR 7.x's) and Spark 4
(Scala 2.13): the connector's jars or package, Amazon's MSK IAM sign-in with AWS_MSK_IAM,
the Kafka source's IAM options, and the pins that must agree (POMs, Makefile). No network:
the folders are made here, and nothing is resolved."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from lambda_common.errors import LambdaError, StackError
from lambda_common.settings import Settings, load_settings
from local_stack import stack as stack_module
from local_stack.jars import ON_REQUEST, PROGRAMS, ensure_jars
from local_stack.stack import LocalStack
from speed_layer.classpath import (
    MSK_IAM_PACKAGE,
    Classpath,
    connector_folder,
    connector_package,
    job_classpath,
    scala_version,
)
from speed_layer.session import session_config
from speed_layer.stream import MSK_IAM_OPTIONS, kafka_source_options

REPO = Path(__file__).resolve().parents[2]
IAM = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "AWS_MSK_IAM"}
# What pyspark ships of the folders' jars (the same names on 3.5 and 4).
SHIPPED = {"scala-library", "slf4j-api", "jackson-databind", "hadoop-client-api"}


def _pom_version(name: str, tag: str) -> str:
    pom = (resources.files("local_stack") / "poms" / f"{name}.xml").read_text()
    match = re.search(rf"<{tag}>([^<]+)</{tag}>", pom)
    assert match is not None, f"no <{tag}> in {name}.xml"
    return match.group(1)


def _folder(path: Path, *jars: str) -> Path:
    path.mkdir(parents=True)
    for name in jars:
        (path / name).write_bytes(b"")
    return path


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(local_stack_dir=str(tmp_path / "stack"), **overrides)


@pytest.mark.parametrize(
    ("spark", "scala", "package", "folder"),
    [
        ("4.2.0", "2.13", "org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0", "spark-kafka"),
        ("3.5.7", "2.12", "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7", "spark-kafka-3.5"),
        # Amazon EMR 7.12.0's build of Spark: the Apache release's connector.
        (
            "3.5.6-amzn-1",
            "2.12",
            "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.6",
            "spark-kafka-3.5",
        ),
    ],
)
def test_the_connector_follows_the_spark_it_runs_on(
    tmp_path: Path, spark: str, scala: str, package: str, folder: str
) -> None:
    settings = _settings(tmp_path)
    assert scala_version(spark) == scala
    assert connector_package(spark) == package
    assert connector_folder(settings, spark) == tmp_path / "stack" / "jars" / folder
    # Nothing fetched: Spark resolves the connector itself.
    assert job_classpath(settings, spark, SHIPPED) == Classpath((), (package,))
    # SPARK_KAFKA_JARS wins over the local stack's folder, whatever the Spark.
    mine = _settings(tmp_path, spark_kafka_jars=str(tmp_path / "mine"))
    assert connector_folder(mine, spark) == tmp_path / "mine"


@pytest.mark.parametrize("spark", ["3.4.4", "2.4.8", "not-a-version"])
def test_a_spark_the_job_cannot_run_on_is_refused_naming_it(spark: str) -> None:
    with pytest.raises(LambdaError, match=re.escape(spark)):
        connector_package(spark)


@pytest.mark.parametrize("spark", ["3.5.7", "4.2.0"])
def test_fetched_connector_jars_are_used_offline(tmp_path: Path, spark: str) -> None:
    scala = scala_version(spark)
    folder = connector_folder(_settings(tmp_path), spark)
    _folder(
        folder,
        f"spark-sql-kafka-0-10_{scala}-{spark}.jar",
        "kafka-clients-3.9.2.jar",
        f"scala-library-{scala}.18.jar",  # pyspark's own stays
    )
    classpath = job_classpath(_settings(tmp_path), spark, SHIPPED)
    assert [p.name for p in classpath.jars] == [
        "kafka-clients-3.9.2.jar",
        f"spark-sql-kafka-0-10_{scala}-{spark}.jar",
    ]
    assert classpath.packages == ()


@pytest.mark.parametrize("spark", ["3.5.7", "4.2.0"])
def test_msk_iam_adds_amazons_sign_in_as_a_package_when_not_fetched(
    tmp_path: Path, spark: str
) -> None:
    settings = _settings(tmp_path, **IAM)
    assert job_classpath(settings, spark, SHIPPED).packages == (
        connector_package(spark),
        MSK_IAM_PACKAGE,
    )
    # The connector fetched, the sign-in not: jars and a package, both given to Spark.
    _folder(connector_folder(settings, spark), "kafka-clients-3.9.2.jar")
    classpath = job_classpath(settings, spark, SHIPPED)
    assert [p.name for p in classpath.jars] == ["kafka-clients-3.9.2.jar"]
    assert classpath.packages == (MSK_IAM_PACKAGE,)
    conf = session_config(settings, classpath, 2)
    assert conf["spark.jars"].endswith("kafka-clients-3.9.2.jar")
    assert conf["spark.jars.packages"] == MSK_IAM_PACKAGE
    # Without AWS_MSK_IAM, nothing of it.
    assert job_classpath(_settings(tmp_path), spark, SHIPPED).packages == ()


@pytest.mark.parametrize("spark", ["3.5.7", "4.2.0"])
def test_msk_iam_jars_fetched_by_make_jars_join_the_connectors(tmp_path: Path, spark: str) -> None:
    settings = _settings(tmp_path, **IAM)
    _folder(connector_folder(settings, spark), "kafka-clients-3.9.2.jar", "slf4j-api-1.7.36.jar")
    _folder(
        tmp_path / "stack" / "jars" / "msk-iam",
        "aws-msk-iam-auth-2.4.0.jar",
        "sts-2.51.2.jar",
        "jackson-databind-2.22.1.jar",  # pyspark's own stays
        "slf4j-api-1.7.36.jar",
    )
    classpath = job_classpath(settings, spark, SHIPPED)
    assert [p.name for p in classpath.jars] == [
        "kafka-clients-3.9.2.jar",
        "aws-msk-iam-auth-2.4.0.jar",
        "sts-2.51.2.jar",
    ]
    assert classpath.packages == ()


def test_an_msk_iam_jar_beside_the_connector_is_enough(tmp_path: Path) -> None:
    """The README's older advice: the jar put in SPARK_KAFKA_JARS by hand."""
    mine = _folder(tmp_path / "mine", "kafka-clients-3.9.2.jar", "aws-msk-iam-auth-2.4.0.jar")
    _folder(tmp_path / "stack" / "jars" / "msk-iam", "aws-msk-iam-auth-2.3.5.jar")
    settings = _settings(tmp_path, spark_kafka_jars=str(mine), **IAM)
    classpath = job_classpath(settings, "3.5.7", SHIPPED)
    assert [p.name for p in classpath.jars] == [
        "aws-msk-iam-auth-2.4.0.jar",
        "kafka-clients-3.9.2.jar",
    ]
    assert classpath.packages == ()


def test_the_kafka_source_signs_in_as_amazons_library_documents() -> None:
    """The options of aws-msk-iam-auth's README, ``kafka.``-prefixed for Spark's source;
    no password, no trust store (the system's CAs trust MSK's certificates)."""
    settings = load_settings(kafka_bootstrap_servers="b-1.msk.example:9098", **IAM)
    assert kafka_source_options(settings) == {
        "kafka.bootstrap.servers": "b-1.msk.example:9098",
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class": (
            "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
        ),
    }
    assert set(MSK_IAM_OPTIONS) == {
        "kafka.sasl.jaas.config",
        "kafka.sasl.client.callback.handler.class",
    }


def test_the_pins_agree() -> None:
    """The MSK IAM package the job resolves is the version make jars fetches; the Spark 3.5
    connector's POM is the pyspark make venv-spark35 installs."""
    assert MSK_IAM_PACKAGE.rsplit(":", 1)[1] == _pom_version("msk-iam", "msk-iam.version")
    assert "software.amazon.msk:aws-msk-iam-auth" in MSK_IAM_PACKAGE
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^SPARK35_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match is not None
    assert match.group(1) == _pom_version("spark-kafka-3.5", "spark.version")
    assert scala_version(match.group(1)) == "2.12"


def test_make_jars_fetches_msk_iam_only_with_aws_msk_iam(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []

    def fake(stack_dir: Path, name: str) -> Path:
        fetched.append(name)
        return stack_dir / "jars" / name

    monkeypatch.setattr(stack_module, "ensure_jars", fake)
    LocalStack(_settings(tmp_path)).fetch_jars()
    assert fetched == list(PROGRAMS)
    fetched.clear()
    LocalStack(_settings(tmp_path, **IAM)).fetch_jars()
    assert fetched == [*PROGRAMS, "msk-iam"]
    fetched.clear()
    LocalStack(_settings(tmp_path)).fetch_jars(["spark-kafka-3.5"])
    assert fetched == ["spark-kafka-3.5"]
    # The Docker image bakes in PROGRAMS: neither the 3.5 connector nor the sign-in.
    assert not set(ON_REQUEST) & set(PROGRAMS)


def test_an_unknown_jar_set_is_refused_before_maven_runs(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"spark-kafka-3\.5"):
        ensure_jars(tmp_path, "spark-kafka-9")


def test_the_spark35_requirements_are_the_projects_pins_but_pyspark() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "requirements.py"),
            *("--without", "pyspark", "--dev", "pytest", "pytest-timeout"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [r for r in project["dependencies"] if not r.startswith("pyspark")]
    dev = [r for r in project["optional-dependencies"]["dev"] if r.startswith("pytest")]
    assert len(runtime) == len(project["dependencies"]) - 1 and len(dev) == 2
    assert result.stdout.splitlines() == runtime + dev


def test_make_test_runs_the_spark35_tests_and_make_help_lists_them() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None and "test-spark35" in recipe[1], "make test skips Spark 3.5"
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {"venv-spark35", "test-spark35"} <= {line.split()[0] for line in listed.splitlines()[1:]}
