"""The speed layer's side of the warehouse: ``speed_view`` and ``speed_batches``.

Kept apart from Spark so it can be exercised with plain rows; the Spark job hands it
each micro-batch's changed groups.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import execute_values

from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

# (event_hour naive UTC, location, tweet_count, followers_sum, favorite_sum, retweet_sum)
ViewRow = tuple[datetime, str, int, int, int, int]


@dataclass(frozen=True)
class BatchStatus:
    """What ``make status`` shows of one micro-batch."""

    batch_id: int
    input_rows: int
    rejects: int
    rows_written: int
    duration_ms: int
    max_event_time: datetime | None
    finished_at: datetime

    def line(self) -> str:
        """The job's one log line per micro-batch."""
        newest = f"{self.max_event_time:%Y-%m-%d %H:%M:%S}" if self.max_event_time else "-"
        return (
            f"speed batch {self.batch_id}: {self.input_rows:,} input rows, "
            f"{self.rejects:,} rejects, {self.rows_written:,} view rows written, "
            f"{self.duration_ms / 1000:.2f}s, max event time {newest}"
        )


class SpeedView:
    """Writes micro-batches into ``speed_view``, each in one transaction."""

    def __init__(self, settings: Settings, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.dialect = settings.warehouse_dialect

    def _run(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement, params)

    def replace(self, rows: Sequence[ViewRow]) -> tuple[int, datetime | None]:
        """Replace the groups in ``rows`` and drop hours before the horizon, atomically.

        ``rows`` are the full current aggregates of the groups a micro-batch changed.
        Returns (rows written at or after the horizon, the horizon used). Readers see
        the view before or after, never in between: no TRUNCATE (it commits on
        Redshift), only DELETE and INSERT inside the transaction.
        """

        def work(cur: Cursor) -> datetime | None:
            (get,) = statements(load_sql("horizon_get", self.dialect))
            cur.execute(get)
            found = cur.fetchone()
            horizon: datetime | None = found[0] if found else None
            self._run(cur, "speed_staging_create")
            if rows:
                (insert,) = statements(load_sql("speed_staging_insert", self.dialect))
                execute_values(cur, insert, rows, page_size=1000)
            self._run(cur, "speed_replace", {"horizon": horizon})
            return horizon

        # Redshift aborts one of two transactions that cannot be serialised (ERROR 1023),
        # e.g. this one beside a batch cycle's publish: run it again whole.
        horizon = self.warehouse.run_transaction(work, what="speed view replace")
        written = sum(1 for r in rows if horizon is None or r[0] >= horizon)
        return written, horizon

    def record(self, status: BatchStatus) -> None:
        """Keep one micro-batch's status for ``make status`` (replaces a replayed id)."""
        with self.warehouse.transaction() as cur:
            self._run(
                cur,
                "speed_batch_record",
                {
                    "batch_id": status.batch_id,
                    "input_rows": status.input_rows,
                    "rejects": status.rejects,
                    "rows_written": status.rows_written,
                    "duration_ms": status.duration_ms,
                    "max_event_time": status.max_event_time,
                    "finished_at": status.finished_at,
                },
            )
