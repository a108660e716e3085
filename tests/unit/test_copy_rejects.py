"""What the batch layer does with the rows Redshift's COPY rejects under MAXERROR
(batch_layer.copy_rejects), against a recording fake connection and the in-memory event
log and bucket: counted in their objects' ledger rows, recorded in load_rejects with
object, line, column and reason, never lost unseen (a load whose rejects cannot all be
named is not committed, so its offsets stay), and the cycle goes on."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from batch_layer import copy_rejects
from batch_layer.copy_rejects import (
    CopyReject,
    UnaccountedRejects,
    attribute,
    read_rejects,
    settle,
    this_copy,
)
from batch_layer.cycle import Services, cycle
from batch_layer.landing import LandedObject, Message, encode_chunk
from batch_layer.load import BatchWarehouse, LoadError
from batch_layer.redshift_copy import copy_sql
from lambda_common.contract import Event
from lambda_common.kafka.eventlog import InMemoryEventLog
from lambda_common.objectstore import InMemoryObjectStore
from lambda_common.retry import Backoff
from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from tests.unit.fake_connection import FakeConnection

TOPIC = "tweets"
NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
TS = int(NOW.timestamp() * 1000)
QUERY_ID = 501
REASON = "Overflow, 9223372036854775808 (Long valid range -9223372036854775808 to ...)"


def _sql(name: str, dialect: str = "redshift") -> str:
    (statement,) = statements(load_sql(name, dialect))
    return statement


COPY_COUNT, HISTORY, DETAIL = (_sql(n) for n in ("copy_count", "copy_history", "copy_rejects"))
INSERT = _sql("load_rejects_insert").replace("%s", "")  # execute_values fills the VALUES in
LEDGER = _sql("ledger_insert")


def _objects() -> list[LandedObject]:
    return [
        LandedObject(f"master/topic={TOPIC}/p{p}.jsonl.gz", TOPIC, p, 0, 9, 10, 1) for p in (0, 1)
    ]


def _urls(objects: list[LandedObject]) -> dict[str, str]:
    return {f"s3://bucket/{o.key}": o.key for o in objects}


def _detail(key: str, line: int, column: str = "followers_count") -> tuple[Any, ...]:
    # Redshift pads its char columns.
    return (f"s3://bucket/{key}" + " " * 30, line, column + " " * 9, 1216, REASON + "  ")


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system views are read again after waits of a millisecond, not seconds."""
    monkeypatch.setattr(copy_rejects, "SHOWN_WAIT", Backoff(0.001, 0.001))


# The pure decisions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "loaded", "expected", "message"),
    [
        (None, 19, 20, "shows no COPY"),
        ((QUERY_ID, 7, 1), 19, 20, "a COPY that loaded 7 rows"),  # an older COPY
        ((QUERY_ID, 19, 2), 19, 20, "loaded 19 of 20 rows but SYS_LOAD_HISTORY counts 2"),
        ((QUERY_ID, 19, 0), 19, 20, "loaded 19 of 20 rows but SYS_LOAD_HISTORY counts 0"),
    ],
)
def test_the_copy_found_must_be_the_one_that_loaded_and_rejected_those_rows(
    history: tuple[int, int, int] | None, loaded: int, expected: int, message: str
) -> None:
    with pytest.raises(UnaccountedRejects, match=message):
        this_copy(history, loaded, expected)


def test_the_copy_found_gives_its_query_and_rejects() -> None:
    assert this_copy((QUERY_ID, 19, 1), 19, 20) == (QUERY_ID, 1)
    # make recompute does not know the lines beforehand: the history's count is taken.
    assert this_copy((QUERY_ID, 19, 3), 19, None) == (QUERY_ID, 3)


def test_a_rejected_row_is_named_by_its_master_object_line_column_and_reason() -> None:
    objects = _objects()
    urls = _urls(objects) | {f"s3://bucket/derived/v3/{objects[1].key}x": objects[1].key + "x"}
    derived = f"derived/v3/{objects[1].key}x"
    rows = [_detail(objects[0].key, 4), _detail(derived, 7, "")]
    assert attribute(rows, urls) == [
        CopyReject(objects[0].key, 4, "followers_count", 1216, REASON),
        CopyReject(objects[1].key + "x", 7, "", 1216, REASON),
    ]
    long_reason = ("r" * 600,)
    (cut,) = attribute([(*_detail(objects[0].key, 1)[:4], *long_reason)], urls)
    assert len(cut.reason) == 512


def test_a_file_name_redshift_cut_is_matched_only_when_it_fits_one_object() -> None:
    # Cut within the padding after what tells them apart, or before it.
    long = [
        f"master/topic={'t' * 200}/p{p}-{n}-{'x' * 60}.jsonl.gz"
        for p, n in ((0, 1), (0, 2), (1, 1))
    ]
    urls = {f"s3://bucket/{k}": k for k in long}
    cut = f"s3://bucket/{long[2]}"[:256]
    assert attribute([(cut, 1, "c", 1, "r")], urls)[0].object_key == long[2]
    shared = f"s3://bucket/{long[0]}"[:200]
    with pytest.raises(UnaccountedRejects, match="which names 3 objects"):
        attribute([(shared, 1, "c", 1, "r")], urls)
    with pytest.raises(UnaccountedRejects, match="which names no objects"):
        attribute([("s3://other/thing", 1, "c", 1, "r")], urls)
    with pytest.raises(UnaccountedRejects, match="which names no objects"):
        attribute([("", 1, "c", 1, "r")], urls)


def test_rejects_move_out_of_events_only_where_events_counted_the_lines() -> None:
    cycle_objects, recomputed = _objects(), _objects()
    rejects = [CopyReject(cycle_objects[1].key, n, "c", 1, "r") for n in (2, 5)]
    settle(cycle_objects, rejects, landed=True)
    settle(recomputed, rejects, landed=False)
    assert [(o.events, o.rejects) for o in cycle_objects] == [(10, 1), (8, 3)]
    assert [(o.events, o.rejects) for o in recomputed] == [(10, 1), (10, 3)]


# Reading them after a COPY ------------------------------------------------------------


def _conn(loaded: int, history: Any = None, details: Any = ()) -> FakeConnection:
    return FakeConnection({COPY_COUNT: [(loaded,)], HISTORY: history or [], DETAIL: details})


def test_a_copy_that_loaded_every_line_costs_one_count_and_no_system_view() -> None:
    conn = _conn(20)
    assert read_rejects(conn.cursor(), _urls(_objects()), expected=20) == []
    assert conn.statements == [COPY_COUNT]


def test_a_copy_that_loaded_more_lines_than_the_objects_hold_is_not_committed() -> None:
    with pytest.raises(UnaccountedRejects, match="loaded 21 rows from objects holding 20"):
        read_rejects(_conn(21).cursor(), _urls(_objects()), expected=20)


def test_the_rejects_of_the_copy_are_read_by_its_query_id() -> None:
    objects = _objects()
    conn = _conn(18, [(QUERY_ID, 18, 2)], [_detail(objects[1].key, 3), _detail(objects[1].key, 9)])
    rejects = read_rejects(conn.cursor(), _urls(objects), expected=20)
    assert [(r.object_key, r.line_number) for r in rejects] == [
        (objects[1].key, 3),
        (objects[1].key, 9),
    ]
    assert conn.statements == [COPY_COUNT, HISTORY, DETAIL]
    # One more row than the count: an extra one would show.
    assert conn.executed[2][1] == {"query_id": QUERY_ID, "limit": 3}


@pytest.mark.parametrize("listed", [1, 3])
def test_detail_rows_that_do_not_match_the_count_are_not_committed(listed: int) -> None:
    objects = _objects()
    details = [_detail(objects[0].key, n) for n in range(listed)]
    conn = _conn(18, [(QUERY_ID, 18, 2)], details)
    with pytest.raises(UnaccountedRejects, match=f"rejected 2 rows but .* lists {listed}"):
        read_rejects(conn.cursor(), _urls(objects), expected=20)


def test_system_views_that_catch_up_within_the_waits_are_read_again() -> None:
    objects = _objects()
    reads: list[int] = []

    def history(params: object) -> list[tuple[int, int, int]]:
        reads.append(1)
        return [] if len(reads) == 1 else [(QUERY_ID, 19, 1)]  # not shown on the first read

    details = [[], [_detail(objects[0].key, 1)]]  # the detail row only on the next read
    conn = FakeConnection(
        {COPY_COUNT: [(19,)], HISTORY: history, DETAIL: lambda params: details.pop(0)}
    )
    (reject,) = read_rejects(conn.cursor(), _urls(objects), expected=20)
    assert (reject.object_key, reject.line_number) == (objects[0].key, 1)
    assert conn.statements == [COPY_COUNT, HISTORY, HISTORY, DETAIL, HISTORY, DETAIL]


def test_a_copy_the_system_views_never_show_fails_after_the_last_read() -> None:
    conn = _conn(19)
    with pytest.raises(UnaccountedRejects, match="shows no COPY"):
        read_rejects(conn.cursor(), _urls(_objects()), expected=20)
    assert conn.statements.count(HISTORY) == copy_rejects.SHOWN_ATTEMPTS


def test_a_recompute_always_asks_the_history_and_finds_no_rejects_there() -> None:
    conn = _conn(20, [(QUERY_ID, 20, 0)])
    assert read_rejects(conn.cursor(), _urls(_objects()), expected=None) == []
    assert conn.statements == [COPY_COUNT, HISTORY]


# Through the load and the cycle -------------------------------------------------------


def _settings(**overrides: Any) -> Settings:
    return load_settings(
        warehouse_dialect="redshift",
        redshift_iam_role="arn:aws:iam::123456789012:role/copy",
        s3_bucket="bucket",
        **overrides,
    )


def _batch(conn: FakeConnection, store: InMemoryObjectStore, **overrides: Any) -> BatchWarehouse:
    settings = _settings(**overrides)
    warehouse = Warehouse(settings)
    warehouse._conn = conn  # type: ignore[assignment]
    return BatchWarehouse(settings, warehouse, store)


def _ledger(conn: FakeConnection) -> dict[str, tuple[int, int]]:
    return {p["object_key"]: (p["events"], p["rejects"]) for t, p in conn.executed if t == LEDGER}


def _recorded(conn: FakeConnection) -> list[str]:
    return [t for t in conn.statements if t.startswith(INSERT)]


def _store() -> InMemoryObjectStore:
    store = InMemoryObjectStore("bucket")
    store.ensure_bucket()
    return store


def test_the_copy_carries_the_maxerror_setting() -> None:
    conn = _conn(20)
    batch = _batch(conn, _store(), redshift_copy_maxerror=7)
    with batch.warehouse.transaction() as cur:
        batch._load(cur, _objects(), "c")
    (copy,) = [p for t, p in conn.executed if t == copy_sql("role")]
    assert copy["max_errors"] == 7


def test_a_load_with_a_rejected_row_records_it_counts_it_and_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    objects = _objects()
    conn = _conn(19, [(QUERY_ID, 19, 1)], [_detail(objects[1].key, 4)])
    batch = _batch(conn, _store())
    with caplog.at_level(logging.WARNING), batch.warehouse.transaction() as cur:
        batch._load(cur, objects, "c")
    assert _ledger(conn) == {objects[0].key: (10, 1), objects[1].key: (9, 2)}
    (insert,) = _recorded(conn)
    assert f"('{objects[1].key}',4,'followers_count',1216,'{REASON}')" in insert
    # Recorded before the ledger, in the same transaction, committed once.
    assert conn.statements.index(insert) < conn.statements.index(LEDGER)
    assert (conn.commits, conn.rollbacks) == (1, 0)
    assert f"COPY rejected 1 rows of {objects[1].key}" in caplog.text
    assert "line 4 column followers_count: Overflow" in caplog.text


def _event(i: int) -> bytes:
    return Event(
        tweet_id=str(100 + i),
        created_at=datetime(2026, 11, 21, 8, i, tzinfo=UTC),
        user_id="u",
        followers_count=i,
        favorite_count=0,
        retweet_count=0,
    ).to_json_bytes()


def _world(conn: FakeConnection) -> tuple[InMemoryEventLog, Services]:
    log = InMemoryEventLog()
    log.create(TOPIC, 2)
    for i in range(10):
        log.append(TOPIC, i % 2, _event(i), TS)
    store = _store()
    return log, Services(log, store, _batch(conn, store))


def test_a_cycle_goes_on_past_a_rejected_row_once_it_is_recorded() -> None:
    # The system views show the COPY's error count but not yet its detail row: nothing
    # is committed and the offsets stay; the next cycle loads the same objects again and
    # records the reject.
    details: list[tuple[Any, ...]] = []
    conn = FakeConnection(
        {COPY_COUNT: [(9,)], HISTORY: [(QUERY_ID, 9, 1)], DETAIL: lambda params: details}
    )
    log, services = _world(conn)
    with pytest.raises(LoadError, match="rejected 1 rows but SYS_LOAD_ERROR_DETAIL lists 0"):
        cycle(services, TOPIC, 3600, now=NOW)
    assert log.committed == {} and _recorded(conn) == [] and _ledger(conn) == {}
    (key,) = [k for k in services.store.objects if "partition=1/" in k and k.startswith("master")]
    details.append(_detail(key, 2))
    result = cycle(services, TOPIC, 3600, now=NOW)
    assert (result.events, result.rejects, result.loaded) == (9, 1, True)
    assert log.committed == {(TOPIC, 0): 5, (TOPIC, 1): 5}
    assert len(_recorded(conn)) == 1
    assert _ledger(conn)[key] == (4, 1)


def test_a_recompute_counts_the_rejected_rows_beside_the_rows_it_loaded() -> None:
    store = _store()
    chunks = [
        encode_chunk(
            TOPIC, p, 0, n - 1, [Message(i, TS, _event(10 * p + i)) for i in range(n)], NOW
        )
        for p, n in ((0, 3), (1, 3))
    ]
    for chunk in chunks:
        store.put(chunk.landed.key, chunk.body)
    keys = [c.landed.key for c in chunks]
    conn = FakeConnection(
        {
            _sql("recompute_count"): [(0, 3), (1, 2)],  # the rows each object put in staging
            COPY_COUNT: [(5,)],
            HISTORY: [(QUERY_ID, 5, 1)],
            DETAIL: [_detail(keys[1], 2)],
        }
    )
    listed = [dataclasses.replace(c.landed, events=0, rejects=0) for c in chunks]
    assert _batch(conn, store).recompute(TOPIC, lambda: listed, "r") == 2
    assert _ledger(conn) == {keys[0]: (3, 0), keys[1]: (2, 1)}
    (insert,) = _recorded(conn)
    assert f"('{keys[1]}',2,'followers_count',1216," in insert
    # The rejects a recompute records replace all those recorded before.
    clear = "DELETE FROM load_rejects"
    assert clear in statements(load_sql("recompute_clear", "redshift"))
    assert conn.statements.index(clear) < conn.statements.index(insert)
