"""The speed layer as a ``spark-submit`` main file, for an existing Spark cluster (EMR, YARN,
standalone): the same job as ``python -m speed_layer``, settings from the environment.

    zip -r lambda_code.zip lambda_common speed_layer -x '*.pyc'
    SPARK_MASTER=yarn spark-submit --master yarn \\
        --packages org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.6 \\
        --py-files lambda_code.zip speed_layer/submit.py

The connector is the cluster's Spark's: ``_2.12`` and its version on Spark 3.5 (Amazon EMR
7.12.0 runs 3.5.6), ``_2.13`` on Spark 4 (``speed_layer.classpath.connector_package``
names it); with ``KAFKA_SASL_MECHANISM=AWS_MSK_IAM`` also ``MSK_IAM_PACKAGE``.
``SPARK_MASTER`` must name the same master as ``--master``: the job sets it on its session.
"""

from __future__ import annotations

import sys

from speed_layer.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
