"""The local stack and the shared adapters against the real services.

Each test talks to the live broker, database or S3 server; the restart tests stop and
start a service and check that what was written before is still there.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from kafka import KafkaProducer
from psycopg2 import sql

from lambda_common.kafka.broker import client_config, ensure_topic
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from tests.stack import StackHandle

from .helpers import consume_all, run_module

TRICKY_ROWS = [
    (1, 'Paris, "Île-de-France"'),
    (2, "back\\slash and \\N literally"),
    (3, "line\nbreak\tand tab"),
    (4, "emoji 🌍 and '; DROP TABLE x; --"),
    (5, ""),
]


def _produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = KafkaProducer(acks="all", enable_idempotence=True, **client_config(settings))
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def _create_table(wh: Warehouse, table: str) -> None:
    wh.execute(
        sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, location varchar(800) NOT NULL)").format(
            sql.Identifier(table)
        )
    )


def _copy_rows(wh: Warehouse, table: str, rows: list[tuple[int, str]]) -> int:
    buffer = io.StringIO()
    # Quote strings: in PostgreSQL's CSV an unquoted empty field is NULL, "" is ''.
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    buffer.seek(0)
    with wh.transaction() as cur:
        return wh.copy_from_stream(cur, table, ["id", "location"], buffer, fmt="csv")


def _read_rows(wh: Warehouse, table: str) -> list[tuple[int, str]]:
    return [
        (int(r[0]), str(r[1]))
        for r in wh.query(
            sql.SQL("SELECT id, location FROM {} ORDER BY id").format(sql.Identifier(table))
        )
    ]


def test_kafka_produce_and_consume(stack: StackHandle) -> None:
    topic = stack.unique("it_kafka")
    assert ensure_topic(stack.settings, topic, partitions=3) is True
    assert ensure_topic(stack.settings, topic, partitions=3) is False
    records = [(f"{i}".encode(), f'{{"n":{i}}}'.encode()) for i in range(20)]
    _produce(stack.settings, topic, records)
    assert sorted(consume_all(stack.settings, topic, len(records))) == sorted(records)


def test_warehouse_copy_keeps_text_verbatim(stack: StackHandle) -> None:
    table = stack.unique("it_copy")
    with Warehouse(stack.settings) as wh:
        _create_table(wh, table)
        try:
            assert _copy_rows(wh, table, TRICKY_ROWS) == len(TRICKY_ROWS)
            assert _read_rows(wh, table) == TRICKY_ROWS
        finally:
            wh.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_warehouse_transaction_rolls_back_on_error(stack: StackHandle) -> None:
    table = stack.unique("it_tx")
    with Warehouse(stack.settings) as wh:
        _create_table(wh, table)
        try:
            with pytest.raises(RuntimeError), wh.transaction() as cur:
                cur.execute(sql.SQL("INSERT INTO {} VALUES (1, 'x')").format(sql.Identifier(table)))
                raise RuntimeError("crash before commit")
            assert _read_rows(wh, table) == []
        finally:
            wh.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


def test_s3_put_list_get(stack: StackHandle) -> None:
    store = S3ObjectStore(stack.settings)
    prefix = stack.unique("it-s3") + "/"
    objects = {f"{prefix}dt=2026-11-21/part-{i}.json.gz": os.urandom(1000 + i) for i in range(3)}
    for key, body in objects.items():
        store.put(key, body)
    try:
        assert store.list_keys(prefix) == sorted(objects)
        for key, body in objects.items():
            assert store.get(key) == body
        assert store.exists(next(iter(objects)))
        assert not store.exists(prefix + "missing")
    finally:
        for key in objects:
            store.delete(key)
    assert store.list_keys(prefix) == []


@pytest.mark.restart
def test_kafka_keeps_messages_across_restart(stack: StackHandle) -> None:
    topic = stack.unique("it_restart")
    ensure_topic(stack.settings, topic, partitions=1)
    records = [(b"k1", b"survives a broker restart")]
    _produce(stack.settings, topic, records)
    stack.restart("kafka")
    assert consume_all(stack.settings, topic, 1) == records


@pytest.mark.restart
def test_postgres_keeps_rows_across_restart(stack: StackHandle) -> None:
    table = stack.unique("it_restart")
    with Warehouse(stack.settings) as wh:
        _create_table(wh, table)
        _copy_rows(wh, table, TRICKY_ROWS[:2])
    stack.restart("postgres")
    with Warehouse(stack.settings) as wh:
        try:
            assert _read_rows(wh, table) == TRICKY_ROWS[:2]
        finally:
            wh.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))


@pytest.mark.restart
def test_s3_keeps_objects_across_restart(stack: StackHandle) -> None:
    store = S3ObjectStore(stack.settings)
    key = stack.unique("it-restart") + "/object.bin"
    body = os.urandom(4096)
    store.put(key, body)
    stack.restart("s3")
    fresh = S3ObjectStore(stack.settings)
    try:
        assert fresh.get(key) == body
    finally:
        fresh.delete(key)


def _stack_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_module("local_stack", *args, env=env, timeout=240)


def test_second_local_up_is_a_no_op(stack: StackHandle) -> None:
    if stack.local is None:
        pytest.skip(f"needs the local stack, not {stack.kind}")
    before = {st.name: st.pid for st in stack.local.status()}
    result = _stack_cli("up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("already running") == len(stack.local.services), result.stdout
    assert {st.name: st.pid for st in stack.local.status()} == before


def test_local_status_reports_all_healthy(stack: StackHandle) -> None:
    if stack.local is None:
        pytest.skip(f"needs the local stack, not {stack.kind}")
    result = _stack_cli("status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # kafka, postgres, s3; or kafka-1, kafka-2, kafka-3, postgres, s3 (LOCAL_KAFKA_BROKERS=3)
    assert [line.split()[0] for line in lines] == list(stack.local.services)
    assert all(line.split()[1] == "healthy" for line in lines), result.stdout


def test_blocked_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": f"localhost:{port}",
            "LOCAL_STACK_DIR": str(tmp_path / "stack"),
        }
        result = _stack_cli("up", "kafka", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {port} (KAFKA_BOOTSTRAP_SERVERS) is already in use" in result.stderr


def test_kcat_lists_the_broker(stack: StackHandle) -> None:
    kcat = shutil.which("kcat")
    assert kcat is not None, "kcat is installed by 'make deps'"
    bootstrap = stack.settings.kafka_bootstrap_servers
    result = subprocess.run(
        [kcat, "-b", bootstrap, "-L"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"{stack.settings.local_kafka_brokers} brokers:" in result.stdout


def test_psql_connects_with_the_dsn(stack: StackHandle) -> None:
    psql = shutil.which("psql")
    assert psql is not None, "psql is installed with PostgreSQL by 'make deps'"
    result = subprocess.run(
        [psql, stack.settings.warehouse_dsn.get_secret_value(), "-tAc", "SELECT current_user"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == stack.settings.warehouse.user
