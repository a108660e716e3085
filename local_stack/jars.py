"""Resolve the Java programs of the local stack from Maven Central.

Each program is described by a small POM in ``local_stack/poms``; its runtime
dependencies are copied into ``<stack>/jars/<name>``. A stamp holding the POM's hash
makes the step a no-op until the POM changes. Maven's own cache (``~/.m2``) makes a
second machine-wide resolution fast.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from lambda_common.errors import StackError

logger = logging.getLogger(__name__)

PROGRAMS = ("kafka", "s3proxy", "spark-kafka")
"""What ``make jars`` (and the Docker image) fetch: the stack's services and the Kafka
connector of the project's own Spark."""

ON_REQUEST = ("spark-kafka-3.5", "msk-iam")
"""Fetched only when asked for: the connector of Spark 3.5 (``make venv-spark35``), and
Amazon's IAM sign-in for MSK (``make jars`` with ``KAFKA_SASL_MECHANISM=AWS_MSK_IAM``)."""


def pom_path(name: str) -> Path:
    """The POM describing one program."""
    return Path(str(resources.files("local_stack") / "poms" / f"{name}.xml"))


def ensure_jars(stack_dir: Path, name: str) -> Path:
    """Return the folder holding ``name``'s jars, resolving them first if needed."""
    if name not in PROGRAMS + ON_REQUEST:
        raise StackError(f"no jars named {name!r}; known: {', '.join(PROGRAMS + ON_REQUEST)}")
    pom = pom_path(name)
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    dest = stack_dir / "jars" / name
    stamp = dest / ".pom-sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return dest
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            "Maven (mvn) is needed to fetch the Kafka, S3Proxy and Spark connector jars from "
            "Maven Central: install it (apt-get install maven) or run 'make deps' as root"
        )
    staging = stack_dir / "jars" / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    logger.info("resolving %s jars from Maven Central (first run only)", name)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [ln for ln in result.stdout.splitlines() if "ERROR" in ln][:3]
        raise StackError(
            f"resolving {name} jars failed: {' | '.join(errors) or result.stderr[-300:]}"
        )
    (staging / ".pom-sha256").write_text(digest + "\n")
    # Swap in the complete folder only once everything is there, so an interrupted
    # resolution never leaves a half-filled classpath behind.
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest
