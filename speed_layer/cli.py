"""``python -m speed_layer``: run the streaming job that keeps ``speed_view`` (make speed).

Runs until Ctrl-C / SIGTERM. Settings: SPARK_MASTER, SPEED_TRIGGER, SPEED_CHECKPOINT,
SPEED_RETENTION, SPARK_KAFKA_JARS, plus the Kafka and warehouse ones.
"""

from __future__ import annotations

import argparse

from lambda_common.cli import run_command
from lambda_common.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings, 1 service or query failure)."""
    parser = argparse.ArgumentParser(prog="python -m speed_layer", description=__doc__)
    parser.parse_args(argv)

    def stream(settings: Settings) -> None:
        # Imported here: pyspark is slow to import and not needed to report bad settings.
        from speed_layer.job import run

        run(settings)

    return run_command(stream)
