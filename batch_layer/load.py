"""Loading landed objects into the warehouse, and publishing the batch view and horizon.

Everything of a cycle happens in **one warehouse transaction**: COPY into a staging
table, de-duplicate into ``raw_tweets``, record the objects in ``load_ledger``, rebuild
``batch_view`` for the hours before the new horizon, move ``batch_horizon``. A replayed
cycle finds its objects in the ledger and loads nothing twice; readers see the old view
until the commit, then the new one.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg2.extras import execute_values

from batch_layer.copy_rejects import CopyReject, settle
from batch_layer.copy_rejects import record as record_rejects
from batch_layer.hours import HourRange, day_ranges, full_range, plan_rebuild
from batch_layer.landing import (
    DERIVED_PREFIX,
    LandedObject,
    stream_master_records,
    upgrade_master_object,
)
from batch_layer.master_reads import Rejects, count_records, first_record, overlapping
from batch_layer.plan import Loss, choose_horizon
from batch_layer.progress import Progress, summary
from batch_layer.redshift_copy import CopyFailed, copy_objects
from batch_layer.target import (
    BatchTarget,
    Coverage,
    Incarnation,
    check_incarnation,
    check_recompute,
)
from batch_layer.timings import Phases
from lambda_common.contract.landed import is_current
from lambda_common.contract.rows import ROW_COLUMNS, csv_values, row_from_master
from lambda_common.errors import LambdaError
from lambda_common.faults import failpoint
from lambda_common.objectstore import ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.views import LOCATIONS, View
from lambda_common.views.sql import batch_fingerprint, batch_rebuild
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0
"""How often ``make recompute`` logs a progress line while it loads, in seconds."""


class LoadError(LambdaError):
    """A load failed; the message carries the warehouse's own reasons."""


class _CsvStream(io.RawIOBase):
    """A file-like view of rows as CSV text, for COPY FROM STDIN without buffering it all."""

    def __init__(self, rows: Iterator[dict[str, Any]]) -> None:
        self._rows = rows
        self.rows = 0  # rows turned into CSV so far: all of them once read to the end
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
            self._writer.writerows(csv_values(row_from_master(r)) for r in rows)
            self.rows += len(rows)
            self._pending += self._text.getvalue().encode("utf-8")
            self._text.seek(0)
            self._text.truncate()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class BatchWarehouse(BatchTarget):
    """The batch layer's side of the warehouse: PostgreSQL or Redshift (see ``BatchTarget``)."""

    def __init__(self, settings: Settings, warehouse: Warehouse, store: ObjectStore) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.store = store
        self.dialect = settings.warehouse_dialect
        # The last publish's seconds per phase (the cycle logs them: batch_layer.timings).
        self.phases = Phases()

    def _run_file(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement, params)

    def statement(self, name: str) -> str:
        """The one statement of the SQL file ``name`` in this warehouse's dialect."""
        return self._one(name)

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

    def generation(self, topic: str, topic_id: str | None, now: datetime) -> int:
        with self.warehouse.transaction() as cur:
            self._run_file(cur, "batch_lock")
            cur.execute(self._one("topic_newest"), {"topic": topic})
            row = cur.fetchone()
            newest = Incarnation(int(row[0]), str(row[1])) if row else None
            generation, register = check_incarnation(topic, newest, topic_id)
            if register:
                params = {
                    "topic": topic,
                    "generation": generation,
                    "topic_id": topic_id,
                    "now": now,
                }
                self._run_file(cur, "topic_register", params)
                logger.info(
                    "registered Kafka topic %s (id %s) as generation %d",
                    topic,
                    topic_id,
                    generation,
                )
        return generation

    def publish(
        self,
        objects: list[LandedObject],
        cycle_id: str,
        coverage: Coverage,
        losses: list[Loss],
        now: datetime,
    ) -> tuple[bool, datetime | None]:
        """Load ``objects`` (unless the ledger has them), record ``losses``, rebuild the
        view, move the horizon: one transaction.

        The horizon moves to the least watermark over all the topic's partitions (see
        ``Coverage``), never backwards. Returns (whether anything was loaded, the horizon
        now in force; None while some partition has never been through a cycle).
        """
        self.phases = phases = Phases()
        started = time.perf_counter()
        with self.warehouse.transaction() as cur:
            self._run_file(cur, "batch_lock")
            loaded = False
            new_hours: set[datetime] = set()
            if objects:
                cur.execute(self._one("ledger_loaded"), {"keys": tuple(o.key for o in objects)})
                already = {row[0] for row in cur.fetchall()}
                # Some may be loaded already: a plan a killed cycle loaded but could not
                # commit the offsets of, redone here next to this cycle's own plans.
                missing = [o for o in objects if o.key not in already]
                if missing:
                    new_hours = self._load(cur, missing, cycle_id)
                    loaded = True
            failpoint("after_copy")
            for loss in losses:
                self._run_file(
                    cur,
                    "loss_record",
                    {
                        "topic": loss.topic,
                        "generation": loss.generation,
                        "kafka_partition": loss.partition,
                        "first_offset": loss.first,
                        "last_offset": loss.last,
                        "now": now,
                    },
                )
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
            horizon = choose_horizon(covered, old)
            if horizon is not None:
                with phases.timed("views"):
                    self._refresh_views(cur, new_hours, old, horizon)
                if horizon != old:
                    self._run_file(cur, "horizon_set", {"horizon": horizon})
        # The rest of the transaction: the lock, the ledger, watermarks, horizon, commit.
        timed = sum(phases.seconds.values())
        phases.add("horizon+commit", time.perf_counter() - started - timed)
        return loaded, horizon

    def rebuild_views(self) -> datetime | None:
        """``make rebuild-views``: every batch table rebuilt in full from the raw tables,
        for the hours before the current horizon, in one transaction (readers see the old
        tables until it commits). Returns the horizon (None: no cycle yet, nothing done)."""
        with self.warehouse.transaction() as cur:
            self._run_file(cur, "batch_lock")
            cur.execute(self._one("horizon_get"))
            row = cur.fetchone()
            horizon = row[0] if row else None
            if horizon is not None:
                self._rebuild_all_views(cur, horizon)
        return horizon

    def recompute(
        self, topic: str, objects: Callable[[], list[LandedObject]], cycle_id: str
    ) -> int:
        """Rebuild ``raw_tweets``, the ledger and the view from the S3 objects alone.

        The objects are listed only once the batch lock is held: a cycle of another
        partition set that commits before is listed, one that commits after waits for
        this transaction and then finds its objects missing from the ledger and loads
        them. One transaction: readers keep the old tables until it commits.

        The ledger's events and rejects of each object are counted as a cycle records
        them (see ``_load``), with a progress line every few seconds and a summary once
        committed.
        """
        started = time.monotonic()
        with self.warehouse.transaction() as cur:
            self._run_file(cur, "batch_lock")
            failpoint("recompute_locked")
            found = objects()
            cur.execute(self._one("ledger_topics"))
            check_recompute(topic, len(found), {str(t): int(n) for t, n in cur.fetchall()})
            self._run_file(cur, "recompute_clear")
            if found:
                # Listed after the master objects: landing writes a chunk's rejects
                # object first, so every chunk listed above has its rejects listed here.
                self._load(cur, found, cycle_id, recount=Rejects.listed(self.store, topic))
            cur.execute(self._one("horizon_get"))
            row = cur.fetchone()
            if row and row[0] is not None:
                self._rebuild_all_views(cur, row[0])
        logger.info(
            "%s",
            summary(
                "recompute",
                len(found),
                sum(o.events for o in found),
                sum(o.rejects for o in found),
                time.monotonic() - started,
            ),
        )
        return len(found)

    def reset(self, topic: str, topic_id: str, now: datetime, retire: Callable[[], None]) -> int:
        with self.warehouse.transaction() as cur:
            self._run_file(cur, "batch_lock")
            cur.execute(self._one("topic_newest"), {"topic": topic})
            row = cur.fetchone()
            generation = int(row[0]) + 1 if row else 0
            retire()
            self._run_file(cur, "watermarks_clear", {"topic": topic})
            self._run_file(
                cur,
                "topic_register",
                {"topic": topic, "generation": generation, "topic_id": topic_id, "now": now},
            )
        return generation

    def open_losses(self, topic: str) -> list[Loss]:
        rows = self.warehouse.query(self._one("losses_open"), {"topic": topic})
        return [Loss(topic, int(g), int(p), int(f), int(la)) for g, p, f, la, _ in rows]

    def acknowledge_losses(self, topic: str, now: datetime, losses: list[Loss]) -> int:
        count = 0
        with self.warehouse.transaction() as cur:
            for loss in losses:
                cur.execute(
                    self._one("losses_acknowledge"),
                    {
                        "topic": topic,
                        "now": now,
                        "generation": loss.generation,
                        "kafka_partition": loss.partition,
                        "first_offset": loss.first,
                    },
                )
                count += max(int(cur.rowcount), 0)
        return count

    def _load(
        self,
        cur: Cursor,
        objects: list[LandedObject],
        cycle_id: str,
        *,
        recount: Rejects | None = None,
    ) -> set[datetime]:
        """COPY ``objects`` into staging, de-duplicate into the raw tables, record them in
        the ledger. Returns the hours of the rows newly loaded (late ones are rebuilt).

        ``recount`` (make recompute, whose objects come from a listing): fill in each
        object's events and rejects as a cycle records them, with progress lines.
        """
        phases = self.phases
        with phases.timed("copy"):
            self._run_file(cur, "staging_create")
            if self.dialect == "postgres":
                self._stage_postgres(cur, objects, recount)
            else:
                # Rows COPY rejected: counted in their objects' ledger rows, recorded too.
                rejects = self._stage_redshift(cur, objects, cycle_id, recount)
                record_rejects(cur, self.dialect, rejects)
        with phases.timed("de-dup insert"):
            self._merge_staged(cur)
            cur.execute(self._one("staging_hours"))
            hours = {row[0] for row in cur.fetchall()}
        with phases.timed("hashtags"):
            self._run_file(cur, "hashtags_merge")
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
        return hours

    def _merge_staged(self, cur: Cursor) -> None:
        params: dict[str, Any] = {}
        if self.dialect == "redshift":
            # The staged ids' range bounds the probe of raw_tweet_ids (its sort key).
            cur.execute(self._one("staging_id_range"))
            row = cur.fetchone()
            params = {"first_id": row[0] if row else None, "last_id": row[1] if row else None}
        self._run_file(cur, "staging_merge", params)

    def _stage_postgres(
        self, cur: Cursor, objects: list[LandedObject], recount: Rejects | None
    ) -> None:
        # The events are counted as they stream into COPY: the object's own lines, so no
        # query per object, and objects of two generations sharing offsets stay apart.
        progress = Progress(len(objects), every_s=PROGRESS_EVERY_S)
        for obj in objects:
            if obj.rows_path is not None:
                self._copy_rows_file(cur, Path(obj.rows_path))
                continue
            events = self._copy_object(cur, obj.key)
            if recount is not None:
                obj.events = events
                obj.rejects = recount.count(obj.key)
                _report(progress.advance(events))

    def _copy_object(self, cur: Cursor, key: str) -> int:
        """COPY a master object's rows into ``staging_tweets`` as it streams from the
        store (a line in memory at a time); returns how many rows it held."""
        with self.store.open(key) as body:
            rows = _CsvStream(stream_master_records(body))
            self.warehouse.copy_from_stream(
                cur,
                "staging_tweets",
                ROW_COLUMNS,
                io.BufferedReader(rows, buffer_size=1 << 16),
            )
        return rows.rows

    def _stage_redshift(
        self, cur: Cursor, objects: list[LandedObject], cycle_id: str, recount: Rejects | None
    ) -> list[CopyReject]:
        """COPY the objects; returns the rows COPY rejected, already counted in the
        objects' ``events`` and ``rejects`` (see ``copy_rejects.settle``)."""
        if recount is None:
            # A cycle's objects are this version's, but for one a redo found landed by an
            # earlier version (``older_form``): COPY reads that one's upgraded copy.
            copyable = [self._copyable(o) if o.older_form else o for o in objects]
            lines = sum(o.events for o in objects)
            rejects = self._copy_redshift(cur, copyable, cycle_id, lines)
            settle(objects, rejects, landed=True)
            return rejects
        # Only make recompute meets objects an earlier version landed: each is checked by
        # its first line before the one COPY of them all.
        progress = Progress(
            len(objects),
            label="recompute: checked for COPY",
            every_s=PROGRESS_EVERY_S,
            counts_events=False,
        )
        copyable = []
        for obj in objects:
            copyable.append(self._copyable(obj))
            obj.rejects = recount.count(obj.key)
            _report(progress.advance())
        rejects = self._copy_redshift(cur, copyable, cycle_id, None)
        self._count_in_staging(cur, objects)
        settle(objects, rejects, landed=False)
        return rejects

    def _count_in_staging(self, cur: Cursor, objects: list[LandedObject]) -> None:
        """Fill in each object's events from the staging table one COPY filled from S3.

        Redshift's COPY reads the objects itself, so the rows never pass through here:
        one GROUP BY counts the staged rows of every object's (partition, first, last)
        range, put in a temporary table. An object sharing offsets with another (two
        generations of a re-created topic) is counted from its own stream instead.
        """
        shared = overlapping(objects)
        ranges = [
            (slot, o.partition, o.first_offset, o.last_offset)
            for slot, o in enumerate(objects)
            if o.key not in shared
        ]
        self._run_file(cur, "recompute_ranges_create")
        execute_values(cur, self._one("recompute_ranges_insert"), ranges, page_size=1000)
        cur.execute(self._one("recompute_count"))
        counts = {int(slot): int(events) for slot, events in cur.fetchall()}
        self._run_file(cur, "recompute_ranges_drop")
        for slot, obj in enumerate(objects):
            if obj.key in shared:
                obj.events = count_records(self.store, obj.key)
            else:
                obj.events = counts.get(slot, 0)

    def _copy_rows_file(self, cur: Cursor, path: Path) -> None:
        # The CSV landing wrote from the very rows it put in the object: no need to
        # download and decode the object again. Removed once copied (the staging table
        # has the rows), so a long cycle holds at most one chunk's CSV after its load.
        with path.open("rb") as rows:
            self.warehouse.copy_from_stream(cur, "staging_tweets", ROW_COLUMNS, rows)
        path.unlink()

    def _copy_redshift(
        self, cur: Cursor, objects: list[LandedObject], cycle_id: str, lines: int | None
    ) -> list[CopyReject]:
        # The manifest, the credentials, the rejects and the load-errors read: see
        # redshift_copy.py; ``lines`` the objects hold, when known.
        try:
            return copy_objects(self.warehouse, cur, self.store, objects, cycle_id, lines)
        except CopyFailed as e:
            raise LoadError(str(e)) from e

    def _refresh_views(
        self, cur: Cursor, new_hours: set[datetime], old: datetime | None, horizon: datetime
    ) -> None:
        """Bring every batch table to ``horizon``: the hours this cycle touched
        (:func:`batch_layer.hours.rebuild_ranges`), and in full a view whose definition
        changed since its table was last rebuilt in full (or that never was)."""
        views = {v.name: v for v in self.settings.views}
        plan = plan_rebuild(views, self._stale_views(cur), new_hours, old, horizon)
        if plan:
            self._rebuild(cur, {views[name]: ranges for name, ranges in plan.items()})

    def _rebuild_all_views(self, cur: Cursor, horizon: datetime) -> None:
        self._rebuild(cur, {v: full_range(horizon) for v in self.settings.views})

    def _stale_views(self, cur: Cursor) -> set[str]:
        """The views whose batch table was not last rebuilt in full by their definition."""
        views = self.settings.views
        cur.execute(
            self._one("batch_fingerprints"),
            {"names": tuple(_fingerprint_name(v) for v in views)},
        )
        recorded = {str(name): str(sha) for name, sha in cur.fetchall()}
        return {
            v.name
            for v in views
            if recorded.get(_fingerprint_name(v)) != batch_fingerprint(v, self.dialect)
        }

    def _rebuild(self, cur: Cursor, plan: dict[View, list[HourRange]]) -> None:
        # Every view in this one transaction, with the horizon: readers never see one
        # view's batch table of another horizon than the rest, nor a half-rebuilt hour.
        for view, ranges in plan.items():
            for statement in batch_rebuild(view, self.dialect):
                for r in ranges:
                    cur.execute(statement, {"since": r.since, "until": r.until})
            if ranges and ranges[0].is_full:
                self._run_file(
                    cur,
                    "schema_object_record",
                    {"name": _fingerprint_name(view), "sha": batch_fingerprint(view, self.dialect)},
                )
        hours = rows = 0
        locations = next((v for v in plan if v.name == LOCATIONS), None)
        rebuilt = plan[locations] if locations is not None else []
        for r in rebuilt:
            cur.execute(self._one("batch_rebuilt_stats"), {"since": r.since, "until": r.until})
            counted = cur.fetchone() or (0, 0)
            hours, rows = hours + int(counted[0]), rows + int(counted[1])
        # batch_daily sums batch_view (the locations view) by day.
        for day in day_ranges(rebuilt):
            self._run_file(cur, "batch_daily_rebuild", {"since": day.since, "until": day.until})
        full = sorted(v.name for v, ranges in plan.items() if ranges and ranges[0].is_full)
        logger.info(
            "rebuilt %d hours (%d raw rows) of %d views in %d ranges%s",
            hours,
            rows,
            len(plan),
            len(rebuilt),
            f"; in full: {', '.join(full)}" if full else "",
        )

    def _copyable(self, obj: LandedObject) -> LandedObject:
        """The object as Redshift's COPY can load it exactly: itself, or, when an earlier
        version landed it in an earlier line form (bare JSON numbers, unpadded years, no
        ``lang`` and ``hashtags``: see ``lambda_common.contract.landed``), an upgraded copy with the
        same lines (written once under ``derived/``; the master object stays as it is,
        and the ledger keeps its key).

        Only the first line is read to decide; an object to upgrade is then read as a
        stream (the upgraded copy is built compressed, as landing builds objects)."""
        first = first_record(self.store, obj.key)
        if first is None or is_current(first):
            return obj
        key = f"{DERIVED_PREFIX}/{obj.key}"
        if not self.store.exists(key):
            with self.store.open(obj.key) as body:
                upgraded = upgrade_master_object(body)
            self.store.put(key, upgraded)
            logger.info("upgraded %s for COPY as %s", obj.key, key)
        return dataclasses.replace(obj, key=key)


def _fingerprint_name(view: View) -> str:
    """The ``schema_objects`` name of a view's batch-table fingerprint."""
    return f"batch_rebuild:{view.name}"


def _report(line: str | None) -> None:
    """Log a progress line, when one was due."""
    if line is not None:
        logger.info("%s", line)
