"""``make verify``'s second engine: every view recomputed from the master dataset with
DuckDB, independently of the warehouse.

The master objects are read from S3 a few at a time into one table (``staged``, progress
logged as it goes), the contract's de-duplication is applied to them here
(``winners.sql``), the views' relations are built from the winners of the hours checked,
and each view's own SELECT (:mod:`batch_layer.lake.translate`) runs over them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from batch_layer.lake.compare import Key, Measures
from batch_layer.lake.engine import fetch, load_lake_sql
from batch_layer.lake.tables import (
    LAYOUTS,
    MASTER_REJECTS,
    MASTER_TWEETS,
    LakeTable,
    files_sql,
    scan_sql,
)
from batch_layer.progress import Progress
from lambda_common.views import RELATIONS, View

logger = logging.getLogger(__name__)

OBJECTS_PER_READ = 16
"""Master objects read by one statement: DuckDB reads them in parallel, and progress is
reported between statements."""

PROGRESS_EVERY_S = 5.0


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class MasterViews:
    """The master dataset under ``root`` (``s3://<bucket>/``), read into a DuckDB
    connection."""

    con: duckdb.DuckDBPyConnection
    root: str
    where: str
    """Where S3 is, for messages (``S3_ENDPOINT_URL`` or AWS)."""

    def url(self, key: str) -> str:
        """The URL DuckDB reads the object ``key`` at."""
        return self.root + key

    def key(self, url: str) -> str:
        """The object key of a URL below ``root``."""
        return url.removeprefix(self.root)

    def _run(self, statement: str, params: dict[str, object] | None = None) -> None:
        fetch(self.con, statement, params, where=self.where)

    def _scans(self, table: LakeTable, keys: Sequence[str]) -> Iterator[tuple[str, int]]:
        """(scan SQL, objects) for ``keys``, a few objects of one layout at a time."""
        for layout in LAYOUTS:
            mine = [k for k in keys if layout.holds(k)]
            for batch in _batches(mine, OBJECTS_PER_READ):
                files = files_sql(self.url(k) for k in batch)
                yield scan_sql(table, layout, files), len(batch)

    def stage(self, keys: Sequence[str], *, every_s: float = PROGRESS_EVERY_S) -> dict[str, int]:
        """Read the master objects ``keys`` into ``staged``, logging progress; returns
        the events (lines) each holds (every key, 0 for an object without any)."""
        self._run(load_lake_sql("staged_create"))
        progress = Progress(total=len(keys), label="verify", every_s=every_s)
        for scan, objects in self._scans(MASTER_TWEETS, keys):
            result = fetch(
                self.con, load_lake_sql("staged_insert").format(scan=scan), where=self.where
            )
            line = progress.advance(int(result.rows[0][0]) if result.rows else 0, objects)
            if line:
                logger.info("%s", line)
        counts = dict.fromkeys(keys, 0)
        counts.update(self._counts("SELECT filename FROM staged"))
        unreadable = fetch(self.con, load_lake_sql("unreadable"), where=self.where).rows
        if unreadable and unreadable[0][0]:
            logger.warning(
                "%d lines lack the keys lang and hashtags (landed by an older version, e.g. "
                "%s): they are checked as they are",
                unreadable[0][0],
                self.key(str(unreadable[0][1])),
            )
        return counts

    def count_rejects(self, keys: Sequence[str]) -> dict[str, int]:
        """The rejected messages each rejects object of ``keys`` holds."""
        counts = dict.fromkeys(keys, 0)
        for scan, _ in self._scans(MASTER_REJECTS, keys):
            counts.update(self._counts(scan))
        return counts

    def _counts(self, source: str) -> dict[str, int]:
        statement = load_lake_sql("object_counts").format(source=source)
        rows = fetch(self.con, statement, where=self.where).rows
        return {self.key(str(url)): int(n) for url, n in rows}

    def build_relations(self, since: datetime, until: datetime) -> None:
        """The de-duplicated tweets (``winners``) and, from those of the hours
        ``since <= event_hour < until``, the relations the views read."""
        self._run(load_lake_sql("winners"))
        for name, columns in RELATIONS.items():
            statement = load_lake_sql(f"relation_{name}").format(columns=", ".join(columns))
            self._run(statement, {"since": since, "until": until})

    def view_rows(self, view: View, select: str) -> dict[Key, Measures]:
        """The view's rows, computed by ``select`` (its SELECT in DuckDB's dialect):
        key columns -> measures."""
        result = fetch(self.con, select, where=self.where)
        width = len(view.key_columns)
        return {tuple(row[:width]): tuple(row[width:]) for row in result.rows}
