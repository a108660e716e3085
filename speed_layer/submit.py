"""The speed layer as a ``spark-submit`` main file, for an existing Spark cluster (EMR, YARN,
standalone): the same job as ``python -m speed_layer``, settings from the environment.

    zip -r lambda_code.zip lambda_common speed_layer -x '*.pyc'
    SPARK_MASTER=yarn spark-submit --master yarn \\
        --packages org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0 \\
        --py-files lambda_code.zip speed_layer/submit.py

``SPARK_MASTER`` must name the same master as ``--master``: the job sets it on its session.
"""

from __future__ import annotations

import sys

from speed_layer.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
