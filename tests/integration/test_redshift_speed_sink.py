"""The speed sink's micro-batches against a real Amazon Redshift: opt-in, like
``test_redshift`` (whose ``redshift`` fixture empties a scratch database first; set
``REDSHIFT_TEST_DSN`` and ``REDSHIFT_TEST_S3_BUCKET``).

What Redshift itself must show: each micro-batch is one transaction (one commit) of a
fixed number of statements whatever its size, the session's staging tables outlive the
transactions that use them (each emptied with DELETE, never TRUNCATE, which would commit
mid-way), and MERGE adds to existing keys, inserts new ones from the horizon on, while
the hours before a moved horizon leave the speed tables.

    REDSHIFT_TEST_DSN=postgresql://user:pass@cluster.xxx.redshift.amazonaws.com:5439/scratch \\
    REDSHIFT_TEST_S3_BUCKET=my-scratch-bucket \\
    make test-integration PYTEST_ARGS="-k redshift_speed_sink"
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest
from psycopg2 import sql

from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from serving_layer.params import utc_now
from speed_layer.events import StagedEvents, from_rows
from speed_layer.view import BatchStatus, SpeedView, ViewRow
from tests.integration.test_redshift import BUCKET, DSN, redshift

__all__ = ["redshift"]  # the fixture, shared with test_redshift

pytestmark = pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)

# A steady micro-batch with rows for each of the three views shipped and one status row:
# LOCK, SELECT, 3 x (INSERT, MERGE, DELETE), UPDATE speed_progress, DELETE + INSERT status.
STEADY = 14


class _Counting(psycopg2.extensions.connection):
    """A connection that counts the statements its cursors run and its commits."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.counts = {"statements": 0, "commits": 0}
        counts = self.counts

        class Cursor(psycopg2.extensions.cursor):
            def execute(self, query: Any, vars: Any = None) -> None:
                counts["statements"] += 1
                super().execute(query, vars)

        self.cursor_factory = Cursor

    def commit(self) -> None:
        self.counts["commits"] += 1
        super().commit()


@pytest.fixture
def counted(redshift: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    """A warehouse on ``redshift`` whose connection counts statements and commits, with
    the schema made and no horizon yet."""
    monkeypatch.setattr(
        psycopg2, "connect", functools.partial(psycopg2.connect, connection_factory=_Counting)
    )
    with Warehouse(redshift) as wh:
        wh.ensure_schema()
        yield wh


class _Batches:
    """Micro-batches of query ``q`` through one SpeedView, each measured."""

    def __init__(self, wh: Warehouse, settings: Settings) -> None:
        self.wh = wh
        self.view = SpeedView(settings, wh)

    def apply(
        self, batch_id: int, rows: dict[str, list[ViewRow]] | StagedEvents
    ) -> tuple[Any, int, int]:
        """(what apply returned, statements sent, commits) of one micro-batch carrying the
        previous micro-batch's status row (as the job's next micro-batch does)."""
        counts = self.wh.connection().counts  # type: ignore[attr-defined]
        before = dict(counts)
        status = [BatchStatus(batch_id - 1, 100, 1, 3, 900, None, utc_now())] if batch_id else []
        result = self.view.apply("q", batch_id, rows, status)
        return (
            result,
            counts["statements"] - before["statements"],
            counts["commits"] - before["commits"],
        )


def _rows(hour: datetime, keys: range, count: int = 1) -> dict[str, list[ViewRow]]:
    """Every view's rows for ``keys`` at ``hour``, ``count`` tweets each."""
    return {
        view: [(hour, f"{view}-{k}", count, 10 * count, count, 0) for k in keys]
        for view in ("locations", "hashtags", "languages")
    }


def _counts(wh: Warehouse, table: str) -> dict[tuple[datetime, str], int]:
    rows = wh.query(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
    return {(r[0], r[1]): int(r[2]) for r in rows}


def test_micro_batches_on_redshift_are_one_commit_of_fixed_statements_each(
    counted: Warehouse, redshift: Settings
) -> None:
    h = utc_now().replace(minute=0, second=0, microsecond=0)
    horizon = h - timedelta(hours=2)
    counted.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (horizon,))
    batches = _Batches(counted, redshift)

    # The first: takes the speed tables over, makes the staging tables; before the
    # horizon nothing is inserted.
    first = _rows(horizon, range(3))
    first["locations"].append((horizon - timedelta(hours=1), "locations-early", 5, 5, 5, 5))
    result, _, commits = batches.apply(0, first)
    assert (result, commits) == ((9, horizon), 1)

    # Steady: as many statements for 1 row a view as for 2,000.
    result, sent, commits = batches.apply(1, _rows(horizon, range(1)))
    assert (result, sent, commits) == ((3, horizon), STEADY, 1)
    result, sent, commits = batches.apply(2, _rows(h, range(2000), count=2))
    assert (result, sent, commits) == ((6000, horizon), STEADY, 1)
    # A replay changes nothing (it still keeps the status row it carries).
    result, sent, commits = batches.apply(2, _rows(h, range(2000), count=2))
    assert (result, sent, commits) == (None, 4, 1)

    speed = _counts(counted, "speed_view")
    assert speed[(horizon, "locations-0")] == 2  # added to
    assert speed[(horizon, "locations-2")] == 1
    assert speed[(h, "locations-1999")] == 2  # inserted once, not replayed
    assert (horizon - timedelta(hours=1), "locations-early") not in speed
    assert len(speed) == 2003 and len(_counts(counted, "speed_hashtags")) == 2003

    # The horizon moves: the next micro-batch cuts each view's older hours, once.
    counted.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (h,))
    result, sent, commits = batches.apply(3, _rows(h, range(1)))
    assert (result, sent, commits) == ((3, h), STEADY + 3, 1)
    assert min(hour for hour, _ in _counts(counted, "speed_languages")) == h
    assert batches.apply(4, _rows(h, range(1)))[1:] == (STEADY, 1)

    ids = {int(r[0]) for r in counted.query("SELECT batch_id FROM speed_batches")}
    assert ids == {0, 1, 2, 3}


# A steady micro-batch of events: LOCK, SELECT, the events' and hashtags' INSERTs, the
# five de-duplication statements, 3 x (INSERT ... the view's SELECT, MERGE, DELETE), the
# staged events' two DELETEs, UPDATE speed_progress, DELETE + INSERT status.
STEADY_EVENTS = 23


def _events(hour: datetime, ids: Iterable[int], *, offset: int = 0) -> StagedEvents:
    """One event per id at ``hour`` (place: partition 0, offset ``offset`` + its index)."""
    return from_rows(
        (str(i), hour, f"loc-{i % 7}", "en", "u", 10, 1, 0, ["kafka", "spark"], 0, offset + n)
        for n, i in enumerate(ids)
    )


def test_event_micro_batches_on_redshift_dedup_and_aggregate_in_one_commit(
    counted: Warehouse, redshift: Settings
) -> None:
    """The speed job's own way: the micro-batch's events staged and de-duplicated, every
    view's SELECT run by Redshift over them, one commit of a fixed number of statements."""
    h = utc_now().replace(minute=0, second=0, microsecond=0)
    horizon = h - timedelta(hours=2)
    counted.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (horizon,))
    batches = _Batches(counted, redshift)

    # The first takes the speed tables over; an event before the horizon is not counted.
    first = from_rows(
        [(str(i), horizon, "loc-0", "en", "u", 10, 1, 0, ["kafka"], 0, i) for i in range(1, 4)]
        + [("900", horizon - timedelta(hours=1), "loc-early", "en", "u", 1, 1, 1, [], 0, 4)]
    )
    assert batches.apply(0, first)[2] == 1
    # Steady, 1 event or 2,000 (copies of ids 1-3 among them, dropped: seen before).
    assert batches.apply(1, _events(h, range(4, 5), offset=10))[1:] == (STEADY_EVENTS, 1)
    crowd = _events(h, [*range(1, 4), *range(5, 2002)], offset=20)
    assert batches.apply(2, crowd)[1:] == (STEADY_EVENTS, 1)
    # A replay changes nothing.
    assert batches.apply(2, crowd)[0] is None

    speed = _counts(counted, "speed_view")
    assert speed[(horizon, "loc-0")] == 3
    assert (horizon - timedelta(hours=1), "loc-early") not in speed
    assert sum(n for (hour, _), n in speed.items() if hour == h) == 1 + 1997
    tags = _counts(counted, "speed_hashtags")
    assert tags[(h, "kafka")] == 1 + 1997 and tags[(h, "spark")] == 1 + 1997
