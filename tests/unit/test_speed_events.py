"""A speed micro-batch given as its events (the job's way): what it costs the warehouse on
a recording connection (one commit, a fixed number of statements whatever its size), the
statements' shape (every view's own SELECT over the staged events from the horizon on),
and the Arrow-built literals (the values psycopg2 would quote, character for character
where it matters: quotes, backslashes, percent signs, non-ASCII)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from speed_layer import view as view_module
from speed_layer.events import (
    HASHTAG_COLUMNS,
    TWEET_COLUMNS,
    StagedEvents,
    from_rows,
    python_rows,
    value_rows,
)
from speed_layer.view import BEGINNING, insert_literals
from tests.unit.fake_connection import FakeConnection
from tests.unit.test_speed_view import DIALECTS, HORIZON, VIEWS, _kinds, _sql, _Warehouse

# The lock, the read of speed_progress, the horizon and the clock, the events and their
# hashtags staged, the de-duplication (late, two of copies within, copies seen before,
# the new ids seen), three a view (its SELECT into its staging table, MERGE, DELETE the
# staged rows), the staged events emptied (two), speed_progress, the status (DELETE +
# INSERT).
DEDUP = ["DELETE", "DELETE", "DELETE", "DELETE", "INSERT"]
STEADY = 2 + 2 + len(DEDUP) + 3 * len(VIEWS) + 2 + 1 + 2


def _events(n: int, hour: datetime = HORIZON, first: int = 1) -> StagedEvents:
    return from_rows(
        (str(first + i), hour + timedelta(hours=i % 3), f"loc-{i}", "en", "u", 1, 2, 3, ["a", "b"])
        for i in range(n)
    )


WAYS = [("postgres", "copy"), ("redshift", "literals"), ("redshift", "quoted")]


@pytest.fixture(params=WAYS)
def steady(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> _Warehouse:
    """Past its connection's first micro-batch, on each dialect and way of staging: COPY
    (PostgreSQL), literals built in Arrow (a server with standard strings) or quoted by
    psycopg2."""
    dialect, way = request.param
    monkeypatch.setattr(view_module, "_staging_way", lambda cur, dialect: way)
    wh = _Warehouse(dialect)
    # Makes the staging tables, cuts at the horizon, sets the clock at HORIZON + 2 h.
    wh.batch(1, _events(3, first=10**6))  # type: ignore[arg-type]
    return wh


@pytest.mark.parametrize("n", [1, 5_000])
def test_a_micro_batch_of_events_is_one_commit_and_a_fixed_number_of_statements(
    steady: _Warehouse, n: int
) -> None:
    sent, commits, result = steady.batch(2, _events(n))  # type: ignore[arg-type]
    assert (len(sent), commits) == (STEADY, 1)
    assert len(VIEWS) == 3 and STEADY == 23  # a change of either is a change of cost
    per_view = ["INSERT", "MERGE", "DELETE"] * len(VIEWS)
    staged = ["COPY"] * 2 if steady.dialect == "postgres" else ["INSERT"] * 2
    assert _kinds(sent) == [
        "LOCK",
        "SELECT",
        *staged,
        *DEDUP,
        *per_view,
        "DELETE",
        "DELETE",
        "UPDATE",
        "DELETE",
        "INSERT",
    ]
    if _kinds(sent)[2] == "COPY":
        assert steady.conn.copied[-2].count('"loc-') == n
        assert steady.conn.copied[-1].count('"b"') == n
    else:
        assert sent[2].count("'loc-") == n and sent[3].count("'b'") == n
    assert result is not None and result[1] == HORIZON


def test_every_view_runs_its_own_select_over_the_staged_events_from_the_horizon(
    steady: _Warehouse,
) -> None:
    sent = len(steady.conn.executed)
    steady.batch(2, _events(3))  # type: ignore[arg-type]
    executed = steady.conn.executed[sent:]
    aggregates = [(s, p) for s, p in executed if _sql(s).startswith('INSERT INTO "staging_')]
    assert len(aggregates) == len(VIEWS)
    for view, (statement, params) in zip(VIEWS, aggregates, strict=True):
        assert view.select in statement  # verbatim: the text the batch layer runs
        assert f"WITH {view.reads} AS (" in statement
        assert "FROM speed_staged_tweets" in statement
        assert params == {"since": HORIZON}


def test_without_a_horizon_every_hour_is_aggregated(steady: _Warehouse) -> None:
    steady.horizon = None
    sent = len(steady.conn.executed)
    steady.batch(2, _events(1))  # type: ignore[arg-type]
    params = [p for s, p in steady.conn.executed[sent:] if p and "since" in p]
    assert params and all(p == {"since": BEGINNING} for p in params)


def test_a_micro_batch_without_events_sends_no_staging_statement(steady: _Warehouse) -> None:
    sent, commits, result = steady.batch(2, _events(0))  # type: ignore[arg-type]
    assert _kinds(sent) == ["LOCK", "SELECT", "UPDATE", "DELETE", "INSERT"]
    assert (commits, result) == (1, (0, HORIZON))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_connections_first_micro_batch_makes_the_event_staging_tables(dialect: str) -> None:
    wh = _Warehouse(dialect, progress=("q", 5))
    sent, commits, _ = wh.batch(6, _events(1))  # type: ignore[arg-type]
    made = [_sql(s).split("(")[0].strip() for s in sent if _sql(s).startswith("CREATE TEMP")]
    assert made[:2] == [
        "CREATE TEMP TABLE speed_staged_tweets",
        "CREATE TEMP TABLE speed_staged_hashtags",
    ]
    # The events' two tables and every view's (DROP + CREATE each), every view cut, the
    # clock set (DELETE + INSERT) and the ids it makes late forgotten.
    assert (len(sent), commits) == (STEADY + 4 + 3 * len(VIEWS) + 3, 1)
    assert len(wh.batch(7, _events(1, first=9))[0]) == STEADY  # type: ignore[arg-type]


def test_the_clock_moves_with_the_newest_hour_and_forgets_what_it_makes_late(
    steady: _Warehouse,
) -> None:
    later = HORIZON + timedelta(hours=5)
    sent = len(steady.conn.executed)
    steady.batch(2, _events(1, later, first=50))  # type: ignore[arg-type]
    executed = steady.conn.executed[sent:]
    (clock,) = [p for s, p in executed if "INSERT INTO speed_clock" in s]
    retention = timedelta(seconds=steady.view.retention.total_seconds())
    assert clock == {"newest": later, "forget": later - 2 * retention}
    (dedup,) = {str(p) for s, p in executed if "speed_staged_tweets WHERE event_hour <=" in s}
    assert dedup == str({"watermark": HORIZON + timedelta(hours=2) - retention})
    # An older hour does not move it back.
    assert len(steady.batch(3, _events(1, HORIZON, first=70))[0]) == STEADY  # type: ignore[arg-type]


def test_a_fresh_checkpoint_forgets_every_id_seen(steady: _Warehouse) -> None:
    sent = len(steady.conn.executed)
    steady.view.apply("another query", 0, _events(1, first=90))
    took_over = [_sql(s) for s in steady.conn.statements[sent:]]
    assert "DELETE FROM speed_seen" in took_over and "DELETE FROM speed_clock" in took_over
    dedup = [p for s, p in steady.conn.executed[sent:] if "WHERE event_hour <= %(watermark)s" in s]
    assert dedup == [{"watermark": None}]  # nothing is late for a fresh checkpoint


# -- the literals ------------------------------------------------------------------------

TEXTS = ["plain", "it's", "back\\slash", "100%", "%s", "''", "naïve", "東京", "\\'", "", "😀"]


def _random_rows(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hour = datetime(rng.choice([1, 999, 1970, 2027, 9999]), 1, 1) + timedelta(
            hours=rng.randrange(8000)
        )
        text = [
            "".join(rng.choice(TEXTS) for _ in range(rng.randrange(3))) or rng.choice(TEXTS)
            for _ in range(3)
        ]
        counts = [rng.choice([0, 1, 2**63 - 1, rng.randrange(2**63)]) for _ in range(3)]
        rows.append((str(i), hour.replace(year=min(hour.year, 9999)), *text, *counts, text[:2]))
    return rows


def test_python_rows_give_back_the_events() -> None:
    rows = _random_rows(1, 200)
    events = from_rows(rows)
    assert python_rows(events.tweets) == [(*r[:8], 0, i) for i, r in enumerate(rows)]
    tags = [(0, i, t) for i, r in enumerate(rows) for t in r[8]]
    assert python_rows(events.hashtags) == tags
    assert events.tweets.column_names == [*TWEET_COLUMNS, "kafka_partition", "kafka_offset"]
    assert events.hashtags.column_names == list(HASHTAG_COLUMNS)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrow_literals_are_the_values_as_standard_sql_literals(seed: int) -> None:
    """Each literal, read as SQL with standard strings, is the value: a text literal is
    the text with its quotes doubled (and nothing else: a backslash or a percent sign is
    itself); an hour its 'YYYY-MM-DD HH:MM:SS'; a count its digits. (That the server reads
    them so: tests/integration/test_speed_events.py.)"""
    events = from_rows(_random_rows(seed, 300))
    for table in (events.tweets, events.hashtags):
        rows = python_rows(table)
        assert len(rows) == table.num_rows
        for literal, row in zip(value_rows(table), rows, strict=True):
            assert literal == "(" + ",".join(_standard_literal(v) for v in row) + ")"


def _standard_literal(value: Any) -> str:
    if isinstance(value, datetime):
        return f"'{value.year:04d}-{value:%m-%d %H:%M:%S}'"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def test_literal_pages_stay_under_the_budget() -> None:
    conn = FakeConnection()
    cur: Any = conn.cursor()
    rows = value_rows(_events(1000).tweets)
    assert insert_literals(cur, "INSERT INTO t VALUES %s", rows) == 1
    one = len(conn.statements[0])
    assert insert_literals(cur, "INSERT INTO t VALUES %s", rows, max_bytes=one // 3) == 4
    assert all(len(s) <= one // 3 for s in conn.statements[1:])
    assert sum(s.count("'loc-") for s in conn.statements[1:]) == 1000
    # Non-ASCII rows count four bytes a character (UTF-8's most): 3 of these a page.
    sent = len(conn.statements)
    wide = ["('東京')"] * 10
    assert insert_literals(cur, "INSERT INTO t VALUES %s", wide, max_bytes=100) == 4
    assert all(len(s.encode()) <= 100 for s in conn.statements[sent:])
    assert insert_literals(cur, "INSERT INTO t VALUES %s", []) == 0
