"""The SQL files: every Redshift statement parses with a Redshift parser (no Redshift here)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
import sqlglot
from sqlglot import exp

from lambda_common.sql import DIALECTS, load_sql, statements

NAMES = sorted(
    {
        p.name.removesuffix(".sql")
        for d in ("common", "redshift", "postgres")
        for p in (resources.files("lambda_common.sql") / d).iterdir()
        if p.name.endswith(".sql")
    }
)


def _bind(statement: str) -> str:
    """Replace psycopg2 placeholders by literals, as the driver does when it sends them."""
    statement = statement.replace("%(keys)s", "('a', 'b')")
    return re.sub(r"%\((\w+)\)s", "'value'", statement)


def _redshift_statements() -> list[tuple[str, str]]:
    out = []
    for name in NAMES:
        try:
            text = load_sql(name, "redshift")
        except FileNotFoundError:
            continue  # a postgres-only file
        if name == "aggregate":
            text = text.format(source="raw_tweets", where="event_hour < %(horizon)s")
        if name == "reader_grants":  # identifiers the warehouse code quotes and fills in
            text = text.format(schema='"public"', reader='"lambda_reader"')
        out.extend((name, s) for s in statements(text))
    return out


@pytest.mark.parametrize(("name", "statement"), _redshift_statements())
def test_redshift_sql_parses(name: str, statement: str) -> None:
    parsed = sqlglot.parse_one(_bind(statement), read="redshift")
    # exp.Command is sqlglot's "could not understand, kept as text": that is not a parse.
    assert not isinstance(parsed, exp.Command), f"{name}: not understood: {statement[:80]}"


def test_redshift_copy_uses_manifest_json_gzip_and_a_role() -> None:
    copy = sqlglot.parse_one(
        _bind(statements(load_sql("copy_manifest_role", "redshift"))[0]), read="redshift"
    )
    assert isinstance(copy, exp.Copy)
    text = copy.sql("redshift").upper()
    for option in ("IAM_ROLE", "MANIFEST", "FORMAT AS JSON", "GZIP"):
        assert option in text


def test_redshift_tables_have_dist_and_sort_keys() -> None:
    raw = statements(load_sql("schema", "redshift"))[0]
    assert "DISTKEY (tweet_id)" in raw and "SORTKEY (event_hour)" in raw


def test_every_dialect_has_every_statement_the_code_loads() -> None:
    for dialect in DIALECTS:
        for name in (
            "schema",
            "staging_create",
            "staging_merge",
            "ledger_loaded",
            "ledger_insert",
            "horizon_get",
            "horizon_set",
            "aggregate",
        ):
            assert statements(load_sql(name, dialect)), (dialect, name)
    with pytest.raises(FileNotFoundError):
        load_sql("copy_manifest_role", "postgres")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        load_sql("schema", "mysql")


SUMS = ("followers_sum", "favorite_sum", "retweet_sum")
SUM_TABLES = ("batch_view", "batch_daily", "speed_view")


@pytest.mark.parametrize("read", ["postgres", "redshift", "spark"])
def test_the_aggregation_adds_the_counts_as_decimal_38_0(read: str) -> None:
    # Spark runs this text too: SUM of a bigint is a bigint there and on Redshift, which
    # two counts near 2^63 overflow; SUM of DECIMAL(38,0) is DECIMAL(38,0).
    text = load_sql("aggregate", "postgres").format(source="raw_tweets", where="TRUE")
    select = sqlglot.parse_one(text, read=read)
    sums = {s.alias_or_name: s.this for s in select.expressions if isinstance(s.this, exp.Sum)}
    assert sorted(sums) == sorted(SUMS)
    for total in sums.values():
        cast = total.this
        assert isinstance(cast, exp.Cast), total.sql()
        assert cast.to.sql("postgres") == "DECIMAL(38, 0)"


def _columns(dialect: str, table: str) -> dict[str, str]:
    for statement in statements(load_sql("schema", dialect)):
        create = sqlglot.parse_one(statement, read=dialect)
        if isinstance(create, exp.Create) and create.this.this.name == table:
            return {
                c.name: c.args["kind"].sql("postgres")
                for c in create.this.expressions
                if isinstance(c, exp.ColumnDef)
            }
    raise AssertionError(f"no CREATE TABLE {table} in {dialect}/schema.sql")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("table", ["batch_view", "batch_daily"])
def test_the_sum_columns_are_exact_decimals_and_tweet_count_a_bigint(
    dialect: str, table: str
) -> None:
    columns = _columns(dialect, table)
    assert {name: columns[name] for name in SUMS} == dict.fromkeys(SUMS, "DECIMAL(38, 0)")
    assert columns["tweet_count"] == "BIGINT"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_speed_view_and_its_staging_table_take_batch_views_columns(dialect: str) -> None:
    schema = " ".join(statements(load_sql("schema", dialect)))
    assert re.search(r"CREATE TABLE IF NOT EXISTS speed_view \(LIKE batch_view\b", schema)
    (_, create) = statements(load_sql("speed_staging_create", dialect))
    assert create == "CREATE TEMP TABLE speed_staging (LIKE speed_view)"


def test_the_postgres_migration_widens_every_sum_after_dropping_the_view() -> None:
    parsed = [
        sqlglot.parse_one(s, read="postgres")
        for s in statements(load_sql("sum_columns_migrate", "postgres"))
    ]
    drop = parsed[0]
    assert isinstance(drop, exp.Drop) and drop.args["kind"] == "VIEW"
    assert [t.name for t in drop.args["tables"]] == ["serving_view"]
    widened = {
        (alter.this.name, change.this.name): change.args["dtype"].sql("postgres")
        for alter in parsed[1:]
        if isinstance(alter, exp.Alter)
        for change in alter.args["actions"]
    }
    assert widened == {(t, c): "DECIMAL(38, 0)" for t in SUM_TABLES for c in SUMS}
    # Redshift cannot ALTER a column's type: it has no migration, ensure_schema refuses.
    with pytest.raises(FileNotFoundError):
        load_sql("sum_columns_migrate", "redshift")


def test_the_outdated_sums_query_names_every_sum_column_of_every_table() -> None:
    (query,) = statements(load_sql("sum_columns_outdated", "redshift"))
    parsed = sqlglot.parse_one(query, read="redshift")
    ins = {e.this.name: {v.name for v in e.expressions} for e in parsed.find_all(exp.In)}
    assert ins == {"relname": set(SUM_TABLES), "attname": set(SUMS)}
    # What format_type calls the contract's type, on both warehouses.
    assert "format_type(a.atttypid, a.atttypmod) <> 'numeric(38,0)'" in query
