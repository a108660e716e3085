"""Loading landed objects into the warehouse, and publishing the batch view and horizon.

Everything of a cycle happens in **one warehouse transaction**: COPY into a staging
table, de-duplicate into ``raw_tweets``, record the objects in ``load_ledger``, rebuild
``batch_view`` for the hours before the new horizon, move ``batch_horizon``. A replayed
cycle finds its objects in the ledger and loads nothing twice; readers see the old view
until the commit, then the new one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from batch_layer.landing import (
    MASTER_PREFIX,
    REJECTS_PREFIX,
    LandedObject,
    master_prefix,
    parse_object_key,
    read_master_object,
)
from lambda_common.errors import LambdaError
from lambda_common.faults import failpoint
from lambda_common.objectstore import ObjectStore
from lambda_common.rows import ROW_COLUMNS
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

MANIFESTS_PREFIX = "manifests"


class LoadError(LambdaError):
    """A load failed; the message carries the warehouse's own reasons."""


class _CsvStream(io.RawIOBase):
    """A file-like view of rows as CSV text, for COPY FROM STDIN without buffering it all."""

    def __init__(self, rows: Iterator[dict[str, Any]]) -> None:
        self._rows = rows
        self._pending = b""
        self._text = io.StringIO()
        # QUOTE_ALL: in PostgreSQL's CSV an unquoted empty field is NULL; "" is ''.
        self._writer = csv.writer(self._text, quoting=csv.QUOTE_ALL, lineterminator="\n")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            batch = [next(self._rows, None) for _ in range(1000)]
            rows = [r for r in batch if r is not None]
            if not rows:
                break
            self._writer.writerows([r[c] for c in ROW_COLUMNS] for r in rows)
            self._pending += self._text.getvalue().encode("utf-8")
            self._text.seek(0)
            self._text.truncate()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def manifest_key(cycle_id: str) -> str:
    """Where a cycle's COPY manifest lives."""
    return f"{MANIFESTS_PREFIX}/{cycle_id}.manifest.json"


def manifest_body(store: ObjectStore, objects: list[LandedObject]) -> bytes:
    """A Redshift COPY manifest listing the objects (all mandatory)."""
    entries = [{"url": store.uri(o.key), "mandatory": True} for o in objects]
    return json.dumps({"entries": entries}, indent=1).encode()


@dataclass(frozen=True)
class Coverage:
    """What a cycle can vouch for: ``handled`` partitions were read up to the end offsets
    seen at the cycle's start, so their events before ``horizon`` are all landed.
    ``partitions`` are all the topic's partitions: the global horizon waits for each."""

    topic: str
    handled: tuple[int, ...]
    partitions: tuple[int, ...]
    horizon: datetime


class BatchWarehouse:
    """The batch layer's side of the warehouse."""

    def __init__(self, settings: Settings, warehouse: Warehouse, store: ObjectStore) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.store = store
        self.dialect = settings.warehouse_dialect

    def _run_file(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement, params)

    def _one(self, name: str) -> str:
        (statement,) = statements(load_sql(name, self.dialect))
        return statement

    def ensure_schema(self) -> None:
        """Create the pipeline's tables if missing (idempotent)."""
        self.warehouse.ensure_schema()

    def horizon(self) -> datetime | None:
        """The current batch horizon (None before the first cycle)."""
        rows = self.warehouse.query(self._one("horizon_get"))
        return rows[0][0] if rows else None

    def publish(
        self,
        objects: list[LandedObject],
        cycle_id: str,
        coverage: Coverage,
    ) -> tuple[bool, datetime | None]:
        """Load ``objects`` (unless the ledger has them), rebuild the view, move the horizon.

        The horizon moves to the least watermark over all the topic's partitions (see
        ``Coverage``), never backwards. Returns (whether anything was loaded, the horizon
        now in force; None while some partition has never been through a cycle).
        """
        with self.warehouse.transaction() as cur:
            cur.execute(self._lock_ledger())
            loaded = False
            if objects:
                cur.execute(self._one("ledger_loaded"), {"keys": tuple(o.key for o in objects)})
                already = {row[0] for row in cur.fetchall()}
                # Some may be loaded already: a plan a killed cycle loaded but could not
                # commit the offsets of, redone here next to this cycle's own plans.
                missing = [o for o in objects if o.key not in already]
                if missing:
                    self._load(cur, missing, cycle_id)
                    loaded = True
            failpoint("after_copy")
            for partition in coverage.handled:
                self._run_file(
                    cur,
                    "watermark_set",
                    {
                        "topic": coverage.topic,
                        "kafka_partition": partition,
                        "horizon": coverage.horizon,
                    },
                )
            cur.execute(
                self._one("watermark_min"),
                {
                    "topic": coverage.topic,
                    "partitions": len(coverage.partitions),
                    "partition_list": tuple(coverage.partitions),
                },
            )
            row = cur.fetchone()
            covered = row[0] if row else None
            cur.execute(self._one("horizon_get"))
            row = cur.fetchone()
            old = row[0] if row else None
            candidates = [h for h in (covered, old) if h is not None]
            horizon = max(candidates) if candidates else None
            if horizon is not None and (horizon != old or loaded):
                self._rebuild_view(cur, horizon)
                self._run_file(cur, "horizon_set", {"horizon": horizon})
        return loaded, horizon

    def recompute(self, topic: str, cycle_id: str) -> int:
        """Rebuild ``raw_tweets``, the ledger and the view from the S3 objects alone.

        Returns the number of objects read. One transaction: readers keep the old tables
        until it commits.
        """
        keys = self.store.list_keys(master_prefix(topic))
        objects = []
        for key in keys:
            partition, first, last = parse_object_key(key)
            objects.append(LandedObject(key, topic, partition, first, last, events=0, rejects=0))
        with self.warehouse.transaction() as cur:
            cur.execute(self._lock_ledger())
            cur.execute("DELETE FROM load_ledger")
            cur.execute("DELETE FROM raw_tweets")
            if objects:
                self._load(cur, objects, cycle_id, count_events=True)
            cur.execute(self._one("horizon_get"))
            row = cur.fetchone()
            if row and row[0] is not None:
                self._rebuild_view(cur, row[0])
        return len(objects)

    def _lock_ledger(self) -> str:
        # Serialises cycles and recomputes (several consumers of the group) on the load.
        if self.dialect == "postgres":
            return "LOCK TABLE load_ledger IN EXCLUSIVE MODE"
        return "LOCK load_ledger"

    def _load(
        self, cur: Cursor, objects: list[LandedObject], cycle_id: str, *, count_events: bool = False
    ) -> None:
        self._run_file(cur, "staging_create")
        if self.dialect == "postgres":
            for obj in objects:
                if obj.rows_path is not None:
                    self._copy_rows_file(cur, Path(obj.rows_path))
                    continue
                rows = read_master_object(self.store.get(obj.key))
                self.warehouse.copy_from_stream(
                    cur,
                    "staging_tweets",
                    ROW_COLUMNS,
                    io.BufferedReader(_CsvStream(rows), buffer_size=1 << 16),
                )
        else:
            self._copy_redshift(cur, objects, cycle_id)
        if count_events:
            self._count_from_staging(cur, objects)
        self._run_file(cur, "staging_merge")
        for obj in objects:
            self._run_file(
                cur,
                "ledger_insert",
                {
                    "object_key": obj.key,
                    "topic": obj.topic,
                    "kafka_partition": obj.partition,
                    "first_offset": obj.first_offset,
                    "last_offset": obj.last_offset,
                    "events": obj.events,
                    "rejects": obj.rejects,
                },
            )

    def _copy_rows_file(self, cur: Cursor, path: Path) -> None:
        # The CSV landing wrote from the very rows it put in the object: no need to
        # download and decode the object again. Removed once copied (the staging table
        # has the rows), so a long cycle holds at most one chunk's CSV after its load.
        with path.open("rb") as rows:
            self.warehouse.copy_from_stream(cur, "staging_tweets", ROW_COLUMNS, rows)
        path.unlink()

    def _count_from_staging(self, cur: Cursor, objects: list[LandedObject]) -> None:
        """Fill in events (from staging) and rejects (from the rejects objects) per object."""
        for obj in objects:
            cur.execute(
                "SELECT COUNT(*) FROM staging_tweets "
                "WHERE kafka_partition = %s AND kafka_offset BETWEEN %s AND %s",
                (obj.partition, obj.first_offset, obj.last_offset),
            )
            row = cur.fetchone()
            obj.events = int(row[0]) if row else 0
            rejects_key = REJECTS_PREFIX + obj.key.removeprefix(MASTER_PREFIX)
            if self.store.exists(rejects_key):
                obj.rejects = sum(1 for _ in read_master_object(self.store.get(rejects_key)))

    def _copy_redshift(self, cur: Cursor, objects: list[LandedObject], cycle_id: str) -> None:
        key = manifest_key(cycle_id)
        self.store.put(key, manifest_body(self.store, objects))
        s = self.settings
        params: dict[str, Any] = {"manifest": self.store.uri(key), "region": s.aws_region}
        if s.redshift_iam_role:
            name = "copy_manifest_role"
            params["iam_role"] = s.redshift_iam_role
        else:
            name = "copy_manifest_keys"
            if not (s.aws_access_key_id and s.aws_secret_access_key):
                raise LoadError("Redshift COPY needs REDSHIFT_IAM_ROLE (or AWS access keys)")
            params["credentials"] = (
                f"aws_access_key_id={s.aws_access_key_id};"
                f"aws_secret_access_key={s.aws_secret_access_key.get_secret_value()}"
            )
        try:
            self._run_file(cur, name, params)
        except Exception as e:
            raise LoadError(f"Redshift COPY of {key} failed: {self._load_errors()}") from e

    def _load_errors(self) -> str:
        # The failed transaction is unusable: read stl_load_errors on a fresh connection.
        try:
            with Warehouse(self.settings) as side:
                rows = side.query(self._one("load_errors"))
        except LambdaError as e:
            return f"(could not read stl_load_errors: {e})"
        return (
            "; ".join(f"{f} line {n} column {c}: {r}" for f, n, c, r in rows)
            or "no stl_load_errors rows"
        )

    def _rebuild_view(self, cur: Cursor, horizon: datetime) -> None:
        aggregate = load_sql("aggregate", self.dialect).format(
            source="raw_tweets", where="event_hour < %(horizon)s"
        )
        cur.execute("DELETE FROM batch_view")
        cur.execute(
            "INSERT INTO batch_view (event_hour, location, tweet_count, followers_sum, "
            "favorite_sum, retweet_sum) " + _strip_comments(aggregate),
            {"horizon": horizon},
        )
        self._run_file(cur, "batch_daily_rebuild")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
