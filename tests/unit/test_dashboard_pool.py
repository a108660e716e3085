"""The dashboard's chart reads share a small pool of warehouse sessions with bounded waits
(the security review's finding 4: one connection behind one lock let slow reads pile up
until /healthz and /metrics timed out)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
import pytest

from lambda_common.settings import load_settings
from lambda_common.views import load_views
from serving_layer.dashboard import reads as reads_module
from serving_layer.dashboard.pool import SessionPool, WarehouseBusy
from serving_layer.dashboard.reads import NotSetUp, WarehouseReads
from tests.unit.fake_connection import FakeConnection


class Recorder:
    """A session that knows whether it was closed."""

    made = 0

    def __init__(self) -> None:
        Recorder.made += 1
        self.number = Recorder.made
        self.closed = False

    def close(self) -> None:
        self.closed = True


def pool(size: int = 2, max_waiting: int = 2, wait_s: float = 0.3) -> SessionPool[Recorder]:
    return SessionPool(Recorder, size=size, max_waiting=max_waiting, wait_s=wait_s)


def test_each_read_gets_a_session_of_its_own_up_to_the_size() -> None:
    sessions = pool(size=3)
    with ExitStack() as held:
        lent = [held.enter_context(sessions.session()) for _ in range(3)]
        assert len({id(s) for s in lent}) == 3
    with sessions.session() as again:
        assert again in lent  # given back, lent again: no new connection


def test_a_read_waits_for_a_session_coming_free() -> None:
    sessions = pool(size=1, wait_s=5)
    with sessions.session() as first:
        pass
    holding = threading.Event()

    def hold() -> None:
        with sessions.session():
            holding.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    started = time.monotonic()
    with sessions.session() as second:
        took = time.monotonic() - started
    holder.join()
    assert second is first and 0.1 < took < 3


def test_no_session_within_the_wait_bound_is_busy() -> None:
    sessions = pool(size=1, wait_s=0.3)
    with sessions.session():
        started = time.monotonic()
        with (
            pytest.raises(WarehouseBusy, match=r"no connection to it came free within 0\.3 s"),
            sessions.session(),
        ):
            pass
        assert 0.25 < time.monotonic() - started < 2
    assert sessions.waiting == 0


def test_past_the_bound_on_waiting_reads_a_read_is_busy_at_once() -> None:
    sessions = pool(size=1, max_waiting=2, wait_s=5)
    failures: list[Exception] = []

    def wait_for_one() -> None:
        try:
            with sessions.session():
                pass
        except WarehouseBusy as e:
            failures.append(e)

    with sessions.session():
        waiters = [threading.Thread(target=wait_for_one) for _ in range(2)]
        for waiter in waiters:
            waiter.start()
        deadline = time.monotonic() + 5
        while sessions.waiting < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match="2 reads are already waiting"), sessions.session():
            pass
        assert time.monotonic() - started < 0.5  # at once, not after the wait bound
    for waiter in waiters:
        waiter.join(5)
    assert not failures  # the two that waited got the session in turn


def test_a_session_comes_back_after_a_failed_read_and_close_closes_them_all() -> None:
    sessions = pool(size=2)
    with pytest.raises(RuntimeError), sessions.session():
        raise RuntimeError("the read failed")
    with sessions.session() as a, sessions.session() as b:
        assert a is not b
        sessions.close()
        assert not a.closed  # still lent: closed when it comes back
    assert a.closed and b.closed


def test_a_pool_needs_a_session() -> None:
    with pytest.raises(ValueError, match="size >= 1"):
        pool(size=0)


# WarehouseReads over the pool, with psycopg2's connection faked ----------------------


class ReaderConnection(FakeConnection):
    readonly = False


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ReaderConnection]]:
    """Every connection the reads open, in order."""
    opened: list[ReaderConnection] = []

    def connect(**keywords: Any) -> ReaderConnection:
        conn = ReaderConnection()
        opened.append(conn)
        return conn

    monkeypatch.setattr(psycopg2, "connect", connect)
    yield opened


def test_a_statement_timeout_is_busy_and_keeps_the_session(
    connections: list[ReaderConnection],
) -> None:
    reads = WarehouseReads(load_settings())
    view = next(v for v in load_views() if v.name == "locations")
    reads.speed_batches(1)
    (conn,) = connections
    conn.fail_on = (
        "-- a window with no rows",
        psycopg2.extensions.QueryCanceledError("canceling statement due to statement timeout"),
    )
    with pytest.raises(WarehouseBusy, match=r"did not finish within 5 s"):
        reads.hours(view, datetime(2026, 1, 1))
    assert conn.rollbacks == 1 and conn.statements[-1].startswith("-- a window with no rows")
    timeouts = [params for text, params in conn.executed if "SET LOCAL statement_timeout" in text]
    want = round(reads_module.STATEMENT_TIMEOUT_S["postgres"] * 1000)
    assert timeouts and timeouts[-1] in ({"ms": want}, (want,))
    conn.fail_on = ("", None)
    reads.speed_batches(1)
    assert len(connections) == 1  # the same session read on: no reconnect


def test_a_missing_grant_is_not_set_up(connections: list[ReaderConnection]) -> None:
    reads = WarehouseReads(load_settings())
    reads.speed_batches(1)
    connections[0].fail_on = (
        "-- The speed layer",
        psycopg2.errors.InsufficientPrivilege("permission denied for table speed_batches"),
    )
    with pytest.raises(NotSetUp, match="QUERY_DSN's user may not read it yet"):
        reads.speed_batches(1)


def test_the_reads_use_at_most_the_pool_size_of_connections(
    connections: list[ReaderConnection],
) -> None:
    reads = WarehouseReads(load_settings())
    gate = threading.Event()
    original = ReaderConnection.cursor

    def slow_cursor(self: ReaderConnection) -> Any:
        gate.wait(5)
        return original(self)

    ReaderConnection.cursor = slow_cursor  # type: ignore[method-assign]
    try:
        threads = [
            threading.Thread(target=reads.speed_batches, args=(1,))
            for _ in range(reads_module.POOL_SIZE + 3)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        gate.set()
        for thread in threads:
            thread.join(10)
    finally:
        ReaderConnection.cursor = original  # type: ignore[method-assign]
    assert len(connections) == reads_module.POOL_SIZE


def test_the_docs_state_the_bounds_the_code_has() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
    text = page.read_text(encoding="utf-8")
    timeouts = reads_module.STATEMENT_TIMEOUT_S
    for said in (
        f"share {reads_module.POOL_SIZE} sessions of the reader role",
        f"waits at most {reads_module.POOL_WAIT_S:g} s",
        f"at most {reads_module.POOL_MAX_WAITING} wait at once",
        f"runs at most {timeouts['postgres']:g} s ({timeouts['redshift']:g} s on Redshift",
    ):
        assert said in " ".join(text.split()), said
