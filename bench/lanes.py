"""Lanes: a fresh Kafka topic and a warehouse schema of the same name for one benchmark
run, so runs never see each other's events, offsets, objects or rows."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lambda_common.kafka.broker import ensure_topic
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

_serial = itertools.count()


@dataclass(frozen=True)
class Lane:
    """One run's topic and schema (both ``name``), its settings (the schema as search
    path, the topic as KAFKA_TOPIC) and the environment of the processes it runs."""

    name: str
    settings: Settings
    env: dict[str, str]


def open_lane(
    settings: Settings, kind: str, *, partitions: int | None = None, tables: bool = False
) -> Lane:
    """Create ``bench_<kind>_<ms>_<n>``: the schema, the topic (``partitions``, default
    KAFKA_TOPIC_PARTITIONS) and, with ``tables``, the pipeline's tables in the schema."""
    name = f"bench_{kind}_{int(time.time() * 1000)}_{next(_serial)}"
    with Warehouse(settings) as wh:
        wh.execute(f'CREATE SCHEMA "{name}"')
    scoped = settings.in_schema(name, topic=name)
    ensure_topic(scoped, name, partitions=partitions)
    if tables:
        with Warehouse(scoped) as wh:
            wh.ensure_schema()
    env = {
        **os.environ,
        "KAFKA_TOPIC": name,
        "WAREHOUSE_DSN": scoped.warehouse_dsn.get_secret_value(),
        "LOG_LEVEL": "WARNING",
    }
    return Lane(name, scoped, env)


def drop_lane(settings: Settings, lane: Lane) -> None:
    """Drop the lane's schema (its topic and S3 objects stay, like any run's)."""
    with Warehouse(settings) as wh:
        wh.execute(f'DROP SCHEMA IF EXISTS "{lane.name}" CASCADE')


@contextmanager
def fresh_lane(
    settings: Settings, kind: str, *, partitions: int | None = None, tables: bool = False
) -> Iterator[Lane]:
    """A lane (:func:`open_lane`) for the ``with`` block, dropped after it, also on failure."""
    opened = open_lane(settings, kind, partitions=partitions, tables=tables)
    try:
        yield opened
    finally:
        drop_lane(settings, opened)
