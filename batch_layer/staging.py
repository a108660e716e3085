"""Staging a cycle's objects in the warehouse, inside its transaction: COPY FROM STDIN of
each object's rows on PostgreSQL (the CSV landing wrote, or the object streamed from S3),
one COPY of them all from S3 on Redshift (``redshift_copy``), with the rows it rejected;
``make recompute`` also recounts each object's events and rejects, with progress lines."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from psycopg2.extras import execute_values

from batch_layer.copy_rejects import CopyReject, settle
from batch_layer.landing import (
    DERIVED_PREFIX,
    LandedObject,
    stream_master_records,
    upgrade_master_object,
)
from batch_layer.master_reads import Rejects, count_records, first_record, overlapping
from batch_layer.progress import Progress
from batch_layer.redshift_copy import CopyFailed, copy_objects
from lambda_common.contract.landed import is_current
from lambda_common.contract.rows import ROW_COLUMNS, csv_values, row_from_master
from lambda_common.errors import LambdaError
from lambda_common.objectstore import ObjectStore
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0
"""How often ``make recompute`` logs a progress line while it loads, in seconds."""


class LoadError(LambdaError):
    """A load failed; the message carries the warehouse's own reasons."""


class CsvStream(io.RawIOBase):
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


class Stager:
    """Stages objects into ``staging_tweets`` in the caller's transaction."""

    def __init__(self, warehouse: Warehouse, store: ObjectStore) -> None:
        self.warehouse = warehouse
        self.store = store
        self.dialect = warehouse.dialect

    def stage(
        self,
        cur: Cursor,
        objects: list[LandedObject],
        cycle_id: str,
        recount: Rejects | None,
    ) -> list[CopyReject]:
        """Stage ``objects``; returns the rows Redshift's COPY rejected (none on
        PostgreSQL, where landing kept every row it could not load as a reject)."""
        if self.dialect == "postgres":
            self._stage_postgres(cur, objects, recount)
            return []
        return self._stage_redshift(cur, objects, cycle_id, recount)

    def _one(self, name: str) -> str:
        (statement,) = statements(load_sql(name, self.dialect))
        return statement

    def _run_file(self, cur: Cursor, name: str) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement)

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
            rows = CsvStream(stream_master_records(body))
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


def _report(line: str | None) -> None:
    """Log a progress line, when one was due."""
    if line is not None:
        logger.info("%s", line)
