"""``make verify``: every view recomputed from the master dataset in S3 by a second engine
(DuckDB) and compared row by row with its batch table; the load ledger compared with the
objects.

1. The warehouse is read in one snapshot as QUERY_DSN's reader (:mod:`.snapshot`): the
   horizon, the load ledger, and each view's batch rows of the hours checked, which are
   the hours before the horizon (``--since``/``--until`` narrow them to whole UTC days).
2. The master objects the ledger records are read from S3 (a master object the ledger
   does not record yet belongs to a cycle still running or to be redone: it is named and
   left out), every line counted per object, the rejects objects too.
3. The contract's de-duplication and each view's own SELECT run in DuckDB
   (:mod:`.master_views`) and each view's rows are compared with its batch table's
   (:mod:`.compare`), the events and rejects of each object with the ledger's.

One line per check, OK or FAIL (a FAIL names the first differing keys and both values);
exit 1 on any FAIL. The run is recorded in ``verify_runs`` for the dashboard and
``make status``. The de-duplication needs every object (a tweet's first copy may be in
any), so ``--since``/``--until`` narrow what is compared, not what is read.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from batch_layer.hours import BEGINNING
from batch_layer.lake.compare import Counts, Outcome, compare_ledger, compare_view, summary
from batch_layer.lake.engine import fetch, lake_connection, load_lake_sql
from batch_layer.lake.master_views import MasterViews
from batch_layer.lake.snapshot import Run, read_snapshot, record_run
from batch_layer.lake.translate import duckdb_select
from batch_layer.landing import master_prefix, rejects_key_of, rejects_prefix
from lambda_common.cli import write_output
from lambda_common.errors import LambdaError
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

END_OF_TIME = datetime(9999, 12, 31)


@dataclass(frozen=True)
class Report:
    """What one run found: a line per check and the closing line."""

    outcomes: list[Outcome]
    notes: list[str]
    closing: str
    events: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(o.ok for o in self.outcomes)

    @property
    def text(self) -> str:
        """The report as printed."""
        return "\n".join([*(o.line for o in self.outcomes), *self.notes, self.closing]) + "\n"


def day_range(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """The hours of the UTC days ``since`` to ``until``, both included (open ends: all)."""
    start = datetime.combine(since, datetime.min.time()) if since else BEGINNING
    end = datetime.combine(until + timedelta(days=1), datetime.min.time()) if until else END_OF_TIME
    return start, end


def verify(settings: Settings, since: date | None = None, until: date | None = None) -> Report:
    """Run every check (see the module's documentation); nothing is recorded."""
    started = time.monotonic()
    views = settings.views
    selects = {v.name: duckdb_select(v, settings.warehouse_dialect) for v in views}
    start, end = day_range(since, until)
    snapshot = read_snapshot(settings, views, start, end)
    store = S3ObjectStore(settings)
    landed: set[str] = set()
    rejects: set[str] = set()
    for topic in sorted(snapshot.topics | {settings.kafka_topic}):
        landed.update(store.list_keys(master_prefix(topic)))
        rejects.update(store.list_keys(rejects_prefix(topic)))
    loaded = sorted(k for k in snapshot.ledger if k in landed)
    notes = []
    pending = sorted(landed - snapshot.ledger.keys())
    if pending:
        notes.append(
            f"note: {len(pending):,} master objects are not in load_ledger yet (a cycle "
            f"running, or one to be redone), not compared: first {pending[0]}"
        )
    if snapshot.horizon is None:
        notes.append("note: no batch horizon yet (no batch cycle has run): no view row to compare")
    with lake_connection(settings) as con, tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        fetch(con, load_lake_sql("temp_directory"), {"dir": tmp})
        lake = MasterViews(con, f"s3://{settings.s3_bucket}/", settings.s3_endpoint_url or "AWS")
        events = lake.stage(loaded)
        rejected = lake.count_rejects(
            [rejects_key_of(k) for k in loaded if rejects_key_of(k) in rejects]
        )
        counted = {k: Counts(events[k], rejected.get(rejects_key_of(k), 0)) for k in loaded}
        outcomes = [compare_ledger(snapshot.ledger, counted)]
        lake.build_relations(start, snapshot.until)
        for view in views:
            rows = lake.view_rows(view, selects[view.name])
            outcomes.append(compare_view(view, snapshot.batch[view.name], rows))
    elapsed = time.monotonic() - started
    total = sum(events.values())
    return Report(outcomes, notes, summary(outcomes, elapsed, total), total, elapsed)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a day as YYYY-MM-DD, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""
    parser.add_argument("--since", type=_day, metavar="DAY", help="first UTC day checked")
    parser.add_argument("--until", type=_day, metavar="DAY", help="last UTC day checked")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the checks, print the report, record the run; the exit code (1: a check
    failed)."""
    if args.since and args.until and args.since > args.until:
        sys.stderr.write("error: --since must not be after --until\n")
        return 2
    report = verify(settings, args.since, args.until)
    write_output(report.text)
    failed = next((o.line for o in report.outcomes if not o.ok), "")
    run_record = Run(
        topic=settings.kafka_topic,
        finished_at=datetime.now(UTC).replace(tzinfo=None),
        ok=report.ok,
        views=len(report.outcomes) - 1,
        rows=sum(o.rows for o in report.outcomes[1:]),
        events=report.events,
        duration_s=report.elapsed_s,
        failed=failed,
    )
    try:
        record_run(settings, run_record)
    except LambdaError as e:
        logger.warning("the run could not be recorded in verify_runs: %s", e)
    return 0 if report.ok else 1
