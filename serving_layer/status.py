"""``make status``: is the pipeline healthy? One line per check, OK, WARN or FAIL.

Reports, per Kafka partition, the end offset, the batch layer's committed offset and the
lag; whether the topic is still the incarnation the batch layer reads; the batch horizon
and its age, and any partition no batch process takes; offset ranges Kafka's retention
deleted before they were landed (until acknowledged); the speed layer's last micro-batch
and newest event time; row counts of the raw tables and of every view's tables, what
each serving view serves and whether it serves any key twice
(``serving.integrity.<view>``, one per view of ``settings.views``); rejects. Exits 1 when
any check FAILs (0 otherwise), so it serves as a health check; ``--format json`` is for
monitoring.

Facts are gathered first (:mod:`serving_layer.status_gather`: Kafka, S3 and the warehouse
in parallel, each bounded by short timeouts; one unreachable service becomes one FAIL line
and the others still run), then judged by :func:`evaluate`
(:mod:`serving_layer.status_checks`), a pure function of the facts, the settings and the
clock. This module is the sub-command: it renders the checks and picks the exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime

from lambda_common.settings import Settings
from serving_layer.status_checks import NOT_SET_UP, evaluate, speed_fresh_limit
from serving_layer.status_facts import (
    COUNTED,
    RANK,
    TABLES,
    Check,
    Facts,
    IncarnationFacts,
    KafkaFacts,
    Level,
    LossFacts,
    PartitionFacts,
    S3Facts,
    SpeedBatchFacts,
    ViewFacts,
    WarehouseFacts,
    relations,
)
from serving_layer.status_gather import (
    QUERY_TIMEOUT_MS,
    TIMEOUT_S,
    gather,
    gather_kafka,
    gather_s3,
    gather_warehouse,
)

# The names the CLI, the demo and the tests use, all importable from here.
__all__ = [
    "COUNTED",
    "NOT_SET_UP",
    "QUERY_TIMEOUT_MS",
    "TABLES",
    "TIMEOUT_S",
    "Check",
    "Facts",
    "IncarnationFacts",
    "KafkaFacts",
    "Level",
    "LossFacts",
    "PartitionFacts",
    "S3Facts",
    "SpeedBatchFacts",
    "ViewFacts",
    "WarehouseFacts",
    "add_arguments",
    "evaluate",
    "exit_code",
    "gather",
    "gather_kafka",
    "gather_s3",
    "gather_warehouse",
    "relations",
    "render_json",
    "render_table",
    "run",
    "speed_fresh_limit",
    "summary",
    "worst",
]


# Output. -------------------------------------------------------------------------------


def worst(checks: list[Check]) -> Level:
    """The worst level among the checks (OK when there are none)."""
    return max((c.level for c in checks), key=RANK.__getitem__, default=Level.OK)


def exit_code(checks: list[Check]) -> int:
    """1 when any check FAILs, else 0 (WARN is not a failure)."""
    return 1 if worst(checks) is Level.FAIL else 0


def summary(checks: list[Check]) -> str:
    """``status: 14 OK, 1 WARN, 0 FAIL``."""
    counts = Counter(c.level for c in checks)
    return "status: " + ", ".join(f"{counts[level]} {level}" for level in Level)


def render_table(checks: list[Check]) -> str:
    """One aligned line per check, then the summary line."""
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{c.level:<5} {c.name:<{width}}  {c.detail}".rstrip() for c in checks]
    return "\n".join([*lines, summary(checks)]) + "\n"


def render_json(checks: list[Check]) -> str:
    """The checks as one JSON document (for monitoring)."""
    counts = Counter(c.level for c in checks)
    document = {
        "status": worst(checks).value,
        "counts": {level.value: counts[level] for level in Level},
        "checks": [{**asdict(c), "level": c.level.value} for c in checks],
    }
    return json.dumps(document, indent=2) + "\n"


# The sub-command. ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="an aligned table (default) or JSON for monitoring",
    )


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Gather, evaluate, print; returns 1 when any check FAILs, else 0."""
    if settings.log_level != "DEBUG":
        # kafka-python logs every refused connection while it retries; the report's
        # one FAIL line says the same, so keep stderr quiet unless debugging.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    now = datetime.now(UTC).replace(tzinfo=None)
    checks = evaluate(gather(settings, now), settings, now)
    render = render_json if args.format == "json" else render_table
    sys.stdout.write(render(checks))
    sys.stdout.flush()
    return exit_code(checks)
