"""The speed layer's side of the warehouse: every view's speed table, ``speed_progress``
and ``speed_batches``.

Kept apart from Spark so it can be exercised with plain rows; the Spark job hands it each
micro-batch's rows of every view (the view's aggregation of the micro-batch's new,
de-duplicated events: increments, which ``speed_progress`` makes sure are applied once).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from psycopg2.extras import execute_values

from lambda_common.errors import LambdaError
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.view_sql import speed_apply, speed_clear, speed_insert, speed_staging
from lambda_common.warehouse import Cursor, Warehouse

logger = logging.getLogger(__name__)

# One row of a view as the speed layer computed it for a micro-batch: the key columns
# (event_hour a naive UTC datetime first), then the four measures (exact ints).
ViewRow = tuple[Any, ...]

Decision = Literal["apply", "skip", "take over"]

FENCED = "speed tables fenced"
"""Opens the message of ``SpeedFenced``: the job's supervisor recognises it as final."""


class SpeedFenced(LambdaError):
    """Another streaming query (another checkpoint) writes the speed tables, or the
    warehouse lost this query's progress: restarting would only meet it again."""


def fence(stored: tuple[str, int] | None, query_id: str, batch_id: int) -> Decision:
    """What to do with micro-batch ``batch_id`` of streaming query ``query_id``, given the
    (query, last batch) ``speed_progress`` recorded.

    ``apply`` the next micro-batch of the recorded query; ``skip`` one it applied already
    (Spark replays the last micro-batch after a crash between the warehouse's commit and
    its own); ``take over`` at the first micro-batch of a new query (a fresh checkpoint,
    which reads the topic from its start: the speed tables are emptied first). Raises
    ``SpeedFenced`` for a later micro-batch of a query that is not the recorded one.
    """
    if stored is not None and stored[0] == query_id:
        return "skip" if batch_id <= stored[1] else "apply"
    if batch_id == 0:
        return "take over"
    if stored is None:
        raise SpeedFenced(
            f"{FENCED}: the warehouse has no record of the micro-batches this checkpoint "
            f"applied (query {query_id}, batch {batch_id}): move SPEED_CHECKPOINT aside and "
            "restart, so that the job rebuilds the speed tables from the topic"
        )
    raise SpeedFenced(
        f"{FENCED}: another speed job (query {stored[0]}) took the speed tables over; "
        "stop this one (one speed job per warehouse)"
    )


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
    """Applies micro-batches to every view's speed table, each in one transaction."""

    def __init__(self, settings: Settings, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.dialect = settings.warehouse_dialect
        self.views = settings.views

    def _run(self, cur: Cursor, name: str, params: dict[str, Any] | None = None) -> None:
        for statement in statements(load_sql(name, self.dialect)):
            cur.execute(statement, params)

    def apply(
        self, query_id: str, batch_id: int, rows: Mapping[str, Sequence[ViewRow]]
    ) -> tuple[int, datetime | None] | None:
        """Add one micro-batch's rows (by view name: each view's aggregation of the
        micro-batch's new events) to the speed tables, drop hours before the horizon and
        record the micro-batch in ``speed_progress``: one transaction, so every view
        moves together and a replayed micro-batch is recognised (None: skipped).

        Returns (rows written at or after the horizon, the horizon used). Readers see the
        tables before or after, never in between: no TRUNCATE (it commits on Redshift).
        """

        def work(cur: Cursor) -> tuple[int, datetime | None] | None:
            self._run(cur, "speed_lock")
            (progress,) = statements(load_sql("speed_progress_get", self.dialect))
            cur.execute(progress)
            found = cur.fetchone()
            stored = (str(found[0]), int(found[1])) if found else None
            decision = fence(stored, query_id, batch_id)
            if decision == "skip":
                return None
            (get,) = statements(load_sql("horizon_get", self.dialect))
            cur.execute(get)
            row = cur.fetchone()
            horizon: datetime | None = row[0] if row else None
            written = 0
            for view in self.views:
                if decision == "take over":
                    for statement in speed_clear(view, self.dialect):
                        cur.execute(statement)
                changes = rows.get(view.name, ())
                if not changes:
                    continue
                for statement in speed_staging(view, self.dialect):
                    cur.execute(statement)
                execute_values(cur, speed_insert(view, self.dialect), changes, page_size=1000)
                for statement in speed_apply(view, self.dialect):
                    cur.execute(statement, {"horizon": horizon})
                written += sum(1 for r in changes if horizon is None or r[0] >= horizon)
            self._run(
                cur,
                "speed_progress_set",
                {
                    "query_id": query_id,
                    "batch_id": batch_id,
                    "now": datetime.now(UTC).replace(tzinfo=None),
                },
            )
            if decision == "take over":
                logger.info(
                    "speed layer: query %s (a fresh checkpoint) took the speed tables over",
                    query_id,
                )
            return written, horizon

        # Redshift aborts one of two transactions that cannot be serialised (ERROR 1023),
        # e.g. this one beside a batch cycle's publish: run it again whole.
        return self.warehouse.run_transaction(work, what=f"speed batch {batch_id}")

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
