"""``python -m lambda_common init`` (``make init``): create what the pipeline needs.

The Kafka topic, the master-dataset bucket and the warehouse tables with
``serving_view``; each is created only if missing, so running it again is harmless. The
Docker Compose ``init`` service runs it before the pipeline's jobs start; on AWS it
prepares MSK, S3 and Redshift the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from lambda_common.errors import ServiceUnavailable
from lambda_common.kafka.broker import ensure_topic
from lambda_common.objectstore import S3ObjectStore
from lambda_common.retry import Backoff, retry_call
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

T = TypeVar("T")


# A service that is starting (the Compose stack's first minute) is polled often: 1 s,
# 2 s, 4 s, then every 5 s until the deadline.
STARTING_BACKOFF = Backoff(first_s=1.0, cap_s=5.0)


def _retry(what: str, action: Callable[[], T], deadline: float, clock: Callable[[], float]) -> T:
    """Run ``action``; while the service is unavailable, retry until ``deadline``."""
    return retry_call(
        action,
        retry_on=ServiceUnavailable,
        backoff=STARTING_BACKOFF,
        what=f"{what} not ready",
        deadline=deadline,
        clock=clock,
    )


def _schema(settings: Settings) -> str:
    with Warehouse(settings) as warehouse:
        warehouse.ensure_schema()
        return warehouse.where


def provision(
    settings: Settings,
    *,
    timeout_s: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """Create the topic, the bucket and the warehouse schema if missing; yield one line
    per thing done. A service still unreachable after ``timeout_s`` raises
    ``ServiceUnavailable`` (one line naming it)."""
    deadline = clock() + timeout_s
    created = _retry("Kafka", lambda: ensure_topic(settings), deadline, clock)
    yield (
        f"kafka      topic {settings.kafka_topic!r} "
        + (f"created ({settings.kafka_topic_partitions} partitions)" if created else "present")
        + f" at {settings.kafka_bootstrap_servers}"
    )
    store = S3ObjectStore(settings)
    created = _retry("S3", store.ensure_bucket, deadline, clock)
    yield (
        f"s3         bucket s3://{settings.s3_bucket} {'created' if created else 'present'}"
        f" at {settings.s3_endpoint_url or 'AWS'}"
    )
    where = _retry("the warehouse", lambda: _schema(settings), deadline, clock)
    yield f"warehouse  tables and serving_view ready in {settings.warehouse_dialect} at {where}"
