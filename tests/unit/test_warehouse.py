"""``Warehouse.ensure_schema`` against a recording fake connection: which files run, in
which order, and what happens to a warehouse whose sums are still bigint."""

from __future__ import annotations

from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from lambda_common.errors import SchemaError
from lambda_common.settings import load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from tests.unit.fake_connection import FakeConnection

pytestmark = pytest.mark.unit

OUTDATED = statements(load_sql("sum_columns_outdated", "postgres"))[0]
BIGINT_SUMS = [
    (table, column, "bigint")
    for table in ("batch_daily", "batch_view", "speed_view")
    for column in ("favorite_sum", "followers_sum", "retweet_sum")
]


def _warehouse(dialect: str, outdated: list[tuple[str, str, str]]) -> tuple[Warehouse, Any]:
    warehouse = Warehouse(load_settings(warehouse_dialect=dialect))
    conn = FakeConnection({OUTDATED: list(outdated)})
    warehouse._conn = conn  # type: ignore[assignment]
    return warehouse, conn


def _files(dialect: str, *names: str) -> list[str]:
    return [s for name in names for s in statements(load_sql(name, dialect))]


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_a_current_schema_is_created_and_checked_in_one_transaction(dialect: str) -> None:
    warehouse, conn = _warehouse(dialect, [])
    warehouse.ensure_schema()
    lock = ["SELECT pg_advisory_xact_lock(%s)"] if dialect == "postgres" else []
    files = _files(dialect, "schema", "sum_columns_outdated", "serving_view", "reader_role")
    assert conn.statements == lock + files
    assert (conn.commits, conn.rollbacks) == (1, 0)


def test_bigint_sums_are_widened_on_postgres_before_the_view_is_made_again() -> None:
    warehouse, conn = _warehouse("postgres", BIGINT_SUMS)
    warehouse.ensure_schema()
    files = _files(
        "postgres",
        "schema",
        "sum_columns_outdated",
        "sum_columns_migrate",
        "serving_view",
        "reader_role",
    )
    assert conn.statements == ["SELECT pg_advisory_xact_lock(%s)", *files]
    assert (conn.commits, conn.rollbacks) == (1, 0)


def test_bigint_sums_stop_a_redshift_start_with_one_line_saying_what_to_do() -> None:
    warehouse, conn = _warehouse("redshift", BIGINT_SUMS[3:])
    with pytest.raises(SchemaError) as info:
        warehouse.ensure_schema()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("warehouse tables batch_view, speed_view hold the sums as bigint")
    assert "DROP TABLE batch_view, batch_daily, speed_view;" in message
    assert "make recompute" in message and "SPEED_CHECKPOINT" in message
    # Nothing was altered or recreated, and the transaction was rolled back.
    assert not any(s.startswith(("ALTER", "CREATE OR REPLACE VIEW")) for s in conn.statements)
    assert (conn.commits, conn.rollbacks) == (0, 1)


def test_a_refused_alter_on_postgres_is_one_line_and_rolls_back() -> None:
    warehouse, conn = _warehouse("postgres", BIGINT_SUMS)
    conn.fail_on = ("ALTER TABLE", psycopg2.errors.FeatureNotSupported())
    with pytest.raises(SchemaError, match="could not widen the sums of batch_daily, batch_view"):
        warehouse.ensure_schema()
    assert (conn.commits, conn.rollbacks) == (0, 1)
