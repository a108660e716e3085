"""``python -m speed_layer``: run the streaming job that keeps ``speed_view`` (make speed).

Runs until Ctrl-C / SIGTERM. Settings: SPARK_MASTER, SPEED_TRIGGER, SPEED_CHECKPOINT,
SPEED_RETENTION, SPARK_KAFKA_JARS, plus the Kafka and warehouse ones.
"""

from __future__ import annotations

import argparse
import sys

from lambda_common.errors import ConfigError, LambdaError
from lambda_common.logs import configure_logging
from lambda_common.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings, 1 service or query failure)."""
    parser = argparse.ArgumentParser(prog="python -m speed_layer", description=__doc__)
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    # Imported late: pyspark is slow to import and not needed to report bad settings.
    from speed_layer.job import run

    try:
        run(settings)
    except LambdaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
