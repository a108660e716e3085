"""Loading landed objects into the warehouse, and publishing the batch view and horizon.

Everything of a cycle happens in **one warehouse transaction**: COPY into a staging
table, de-duplicate into ``raw_tweets``, record the objects in ``load_ledger``, rebuild
``batch_view`` for the hours before the new horizon, move ``batch_horizon``. A replayed
cycle finds its objects in the ledger and loads nothing twice; readers see the old view
until the commit, then the new one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from batch_layer.batch_views import BatchViews
from batch_layer.copy_rejects import record as record_rejects
from batch_layer.landing import (
    LandedObject,
)
from batch_layer.master_reads import Rejects
from batch_layer.plan import Loss, choose_horizon
from batch_layer.progress import summary
from batch_layer.staging import LoadError, Stager
from batch_layer.target import (
    BatchTarget,
    Incarnation,
    Publication,
    check_incarnation,
    check_recompute,
)
from batch_layer.timings import Phases
from lambda_common.faults import failpoint
from lambda_common.objectstore import ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

__all__ = ["BatchWarehouse", "LoadError"]


class BatchWarehouse(BatchTarget):
    """The batch layer's side of the warehouse: PostgreSQL or Redshift (see ``BatchTarget``)."""

    def __init__(self, settings: Settings, warehouse: Warehouse, store: ObjectStore) -> None:
        self.settings = settings
        self.warehouse = warehouse
        self.store = store
        self.dialect = settings.warehouse_dialect
        # The last publish's seconds per phase (the cycle logs them: batch_layer.timings).
        self.phases = Phases()
        self.staging = Stager(warehouse, store)
        self.views = BatchViews(settings)

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

    def publish(self, cycle: Publication) -> tuple[bool, datetime | None]:
        """Load ``objects`` (unless the ledger has them), record ``losses``, rebuild the
        view, move the horizon: one transaction.

        The horizon moves to the least watermark over all the topic's partitions (see
        ``Coverage``), never backwards. Returns (whether anything was loaded, the horizon
        now in force; None while some partition has never been through a cycle).
        """
        objects, cycle_id, coverage, losses, now = cycle.parts()
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
                    self.views.refresh(cur, new_hours, old, horizon)
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
                self.views.rebuild_all(cur, horizon)
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
                self.views.rebuild_all(cur, row[0])
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
            # Rows COPY rejected: counted in their objects' ledger rows, recorded too.
            rejects = self.staging.stage(cur, objects, cycle_id, recount)
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
