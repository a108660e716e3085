"""Amazon's MSK IAM sign-in inside the speed job's Spark, on the Spark of this interpreter
(``make test`` runs it on Spark 4, ``make test-spark35`` on 3.5): with
``KAFKA_SASL_MECHANISM=AWS_MSK_IAM`` the job's session carries the jars ``make jars``
fetches for it, and a Kafka client made in that JVM from the options the job gives Spark's
Kafka source loads Amazon's login module and callback handler.

There is no MSK here, so no sign-in is completed: the client is only made, which is where a
missing class or a wrong option fails (a login module JAAS cannot find, a callback handler
class Kafka cannot load). A made-up module name must fail the same way, so that passing
means the module was really looked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lambda_common.settings import load_settings
from local_stack.jars import ensure_jars

from .helpers import REPO

# Run in a process of its own: the JVM pyspark starts stays for the life of its process.
_SCRIPT = """
import json, sys
from lambda_common.settings import load_settings
from speed_layer.session import build_session
from speed_layer.stream import kafka_source_options

settings = load_settings()
spark = build_session(settings)
jvm = spark.sparkContext._jvm
options = kafka_source_options(settings)
result = {"spark": spark.version, "jars": spark.conf.get("spark.jars", "")}

def client(overrides):
    props = jvm.java.util.Properties()
    for key, value in {**options, **overrides}.items():
        props.setProperty(key.removeprefix("kafka."), value)
    deserializer = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
    props.setProperty("key.deserializer", deserializer)
    props.setProperty("value.deserializer", deserializer)
    try:
        jvm.org.apache.kafka.clients.consumer.KafkaConsumer(props).close()
    except Exception as e:  # the Java exception and its causes, for the assertion
        cause, chain = getattr(e, "java_exception", None), []
        while cause is not None:
            chain.append(cause.toString())
            cause = cause.getCause()
        return " | ".join(chain) or str(e)
    return "made"

result["iam"] = client({})
result["made_up"] = client(
    {"kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.NoSuchModule required;"}
)
spark.stop()
print(json.dumps(result))
"""


def test_the_jobs_spark_signs_in_to_msk_with_amazons_module(tmp_path: Path) -> None:
    import pyspark

    settings = load_settings()
    # What make jars does with KAFKA_SASL_MECHANISM=AWS_MSK_IAM (from Maven Central once).
    fetched = ensure_jars(settings.local_stack_dir.resolve(), "msk-iam")
    env = {
        **os.environ,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "AWS_MSK_IAM",
        "KAFKA_CLIENT": "kafka-python",
        # Nothing listens there: the client is made, never connected.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "SPARK_MASTER": "local[1]",
        "SPARK_KAFKA_JARS": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["spark"] == pyspark.__version__
    jars = seen["jars"].split(",")
    assert any(Path(j).name.startswith("aws-msk-iam-auth-") for j in jars), jars
    assert any(Path(j).parent == fetched for j in jars), jars
    assert seen["iam"] == "made", seen
    # JAAS looked the module up by name (and found Amazon's, above).
    assert "No LoginModule found for software.amazon.msk.auth.iam.NoSuchModule" in seen["made_up"]
