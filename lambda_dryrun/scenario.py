"""What the dry run's recording warehouse answers: a new, empty Redshift warehouse.

The code paths ``make redshift-sql`` runs read a few rows back (is the view there, which
SHA was recorded for it, which watermark covers the partitions, ...). These answers
follow what the code itself sent before in the same run (a view created by ``make init``
is there at the next schema check, the horizon a cycle sets is the one it then reads), so
the paths run as they would on a new cluster: ``make init`` creates everything, the first
batch cycle loads its objects and rebuilds every view in full, the first micro-batch of a
new checkpoint takes the speed tables over.

The answers are keyed by the text of the SQL files, read when the run starts: a changed
file is answered as it is now, and a statement not answered returns no rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lambda_common.sql import load_sql, statements
from lambda_common.warehouse.recorder import Answer

DIALECT = "redshift"


def _one(name: str) -> str:
    (statement,) = statements(load_sql(name, DIALECT))
    return statement


def _last(name: str) -> str:
    """The last statement of a file (the INSERT of the files that delete, then insert)."""
    return statements(load_sql(name, DIALECT))[-1]


@dataclass
class NewWarehouse:
    """The state the answers follow: SHAs recorded in ``schema_objects``, the watermarks
    set, the horizon, the hours a load staged and the micro-batches recorded."""

    schema: str = "public"
    recorded: dict[str, str] = field(default_factory=dict)
    watermarks: list[datetime] = field(default_factory=list)
    horizon: datetime | None = None
    staged_hours: list[datetime] = field(default_factory=list)
    progress: tuple[str, int] | None = None
    copied_rows: int = 0

    def answers(self) -> dict[str, Answer]:
        """Rows by statement text, each from the state (or updating it)."""
        return {
            _one("column_present"): [(1,)],
            _one("raw_tweet_ids_empty"): [(False,)],
            _one("sum_columns_outdated"): [],
            _one("view_present"): lambda p: [(1 if p["name"] in self.recorded else 0,)],
            _one("schema_object_sha"): self._sha,
            _last("schema_object_record"): self._record,
            # QUERY_DSN's user exists (the operator creates it): the grants are shown.
            _one("reader_role"): [(self.schema, True)],
            _one("topic_newest"): [],
            _one("ledger_loaded"): [],
            _one("staging_id_range"): [("1", "9")],
            _one("copy_count"): lambda _: [(self.copied_rows,)],
            _one("staging_hours"): lambda _: [(h,) for h in self.staged_hours],
            _last("watermark_set"): self._watermark,
            _one("watermark_min"): lambda _: [(min(self.watermarks) if self.watermarks else None,)],
            _one("horizon_get"): lambda _: [(self.horizon,)],
            _last("horizon_set"): self._horizon,
            _one("batch_fingerprints"): [],
            _one("batch_rebuilt_stats"): [(len(self.staged_hours), len(self.staged_hours))],
            _one("speed_progress_get"): self._speed_state,
            _one("speed_progress_insert"): self._progress,
            _one("speed_progress_update"): self._progress,
        }

    def _speed_state(self, _: Any) -> list[tuple[Any, ...]]:
        """speed_progress (None before the first micro-batch) beside the horizon and the
        newest event hour the speed layer saw (none: a fresh checkpoint takes over)."""
        return [(*(self.progress or (None, None)), self.horizon, None)]

    def _sha(self, params: Any) -> list[tuple[Any, ...]]:
        name = params["name"]
        return [(self.recorded[name],)] if name in self.recorded else []

    def _record(self, params: Any) -> list[tuple[Any, ...]]:
        self.recorded[params["name"]] = params["sha"]
        return []

    def _watermark(self, params: Any) -> list[tuple[Any, ...]]:
        self.watermarks.append(params["horizon"])
        return []

    def _horizon(self, params: Any) -> list[tuple[Any, ...]]:
        self.horizon = params["horizon"]
        return []

    def _progress(self, params: Any) -> list[tuple[Any, ...]]:
        self.progress = (params["query_id"], params["batch_id"])
        return []
