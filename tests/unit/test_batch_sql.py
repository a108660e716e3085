"""The SQL files: every Redshift statement parses with a Redshift parser (no Redshift here)."""

from __future__ import annotations

import ast
import re
from importlib import resources
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from batch_layer.redshift_copy import CREDENTIALS, copy_sql
from lambda_common.sql import DIALECTS, load_sql, statements
from lambda_common.views import View, load_views
from lambda_common.views.sql import (
    batch_rebuild,
    batch_rows,
    serving_ddl,
    speed_clear,
    speed_expire,
    speed_insert,
    speed_merge,
    speed_staging,
    table_ddl,
)
from tests.unit import redshift_rules as rules

NAMES = sorted(
    {
        p.name.removesuffix(".sql")
        for d in ("common", "redshift", "postgres")
        for p in (resources.files("lambda_common.sql") / d).iterdir()
        if p.name.endswith(".sql")
    }
)


def _redshift_statements() -> list[tuple[str, str]]:
    out = []
    for name in NAMES:
        try:
            text = load_sql(name, "redshift")
        except FileNotFoundError:
            continue  # a postgres-only file
        if name.startswith(("view_", "relation_")):
            continue  # templates: checked below as each view fills them in
        if name == "copy_manifest":  # its credentials clause filled in: each one
            out.extend((f"copy_manifest {mode}", copy_sql(mode)) for mode in CREDENTIALS)
            continue
        if name == "reader_grants":  # identifiers the warehouse code quotes and fills in
            text = text.format(schema='"public"', reader='"lambda_reader"')
        if "{relation}" in text or "{serving}" in text:  # identifiers status and the
            # dashboard quote and fill in
            text = text.format_map(_StatusIdentifiers())
        out.extend((name, s) for s in statements(text))
    for view in load_views():
        derived = [
            *table_ddl(view, "redshift"),
            serving_ddl(view, "redshift"),
            *batch_rebuild(view, "redshift"),
            batch_rows(view, "redshift"),
            *speed_staging(view, "redshift"),
            speed_insert(view, "redshift").replace("%s", "('v')"),
            *speed_merge(view, "redshift"),
            *speed_expire(view, "redshift"),
            *speed_clear(view, "redshift"),
        ]
        out.extend((f"view {view.name}", s) for s in derived)
    return out


class _StatusIdentifiers(dict[str, str]):
    """A relation, or a column (list) for any other placeholder, as the code quotes them."""

    def __missing__(self, key: str) -> str:
        return '"speed_view"' if key in ("relation", "serving") else '"location"'


@pytest.mark.parametrize(("name", "statement"), _redshift_statements())
def test_redshift_sql_parses_without_unsupported_features(name: str, statement: str) -> None:
    # Parsed as Redshift (LOCK checked against Amazon's syntax instead), and none of the
    # PostgreSQL features Redshift lacks: tests/unit/redshift_rules.py.
    assert rules.faults(statement) == [], f"{name}: {statement[:80]}"


def test_redshift_copy_uses_manifest_json_gzip_and_a_role() -> None:
    copy = rules.parse(copy_sql("role"))
    assert isinstance(copy, exp.Copy)
    text = copy.sql("redshift").upper()
    for option in ("IAM_ROLE", "MANIFEST", "FORMAT AS JSON", "GZIP"):
        assert option in text


@pytest.mark.parametrize(
    ("name", "authorization"),
    [
        ("role", {"IAM_ROLE": "%(iam_role)s"}),
        (
            "keys",
            {
                "ACCESS_KEY_ID": "%(access_key_id)s",
                "SECRET_ACCESS_KEY": "%(secret_access_key)s",
            },
        ),
        (
            "session",
            {
                "ACCESS_KEY_ID": "%(access_key_id)s",
                "SECRET_ACCESS_KEY": "%(secret_access_key)s",
                "SESSION_TOKEN": "%(session_token)s",
            },
        ),
    ],
)
def test_each_redshift_copy_has_its_credentials_bound_and_skips_compression_and_stats(
    name: str, authorization: dict[str, str]
) -> None:
    statement = copy_sql(name)
    assert rules.copy_parameters(statement) == {
        **authorization,
        "MANIFEST": None,
        "FORMAT": "JSON 'auto'",
        "GZIP": None,
        "TIMEFORMAT": "'YYYY-MM-DD HH:MI:SS'",
        "MAXERROR": "%(max_errors)s",
        "REGION": "%(region)s",
        "COMPUPDATE": "OFF",
        "STATUPDATE": "OFF",
    }
    # The manifest is the FROM; the credentials are never written into the files.
    assert "FROM %(manifest)s" in statement and "CREDENTIALS" not in rules.sql_only(statement)


@pytest.mark.parametrize(
    "typo",
    [
        ("SECRET_ACCESS_KEY", "SECRET_ACESS_KEY"),
        ("COMPUPDATE OFF", "COMPUPDTE OFF"),
        ("STATUPDATE OFF", "STATUPDATE OF"),
        ("SESSION_TOKEN %(session_token)s", "SESSION_TOKEN"),
        ("ACCESS_KEY_ID %(access_key_id)s", "IAM_ROLE 'r'\nACCESS_KEY_ID %(access_key_id)s"),
        ("GZIP", "GZIP\nGZIP"),
    ],
)
def test_the_copy_check_catches_a_typo(typo: tuple[str, str]) -> None:
    statement = rules.sql_only(copy_sql("session"))
    assert typo[0] in statement
    with pytest.raises(AssertionError):
        rules.copy_parameters(statement.replace(typo[0], typo[1], 1))


# SYS_LOAD_ERROR_DETAIL and SYS_SESSION_HISTORY columns, as Amazon documents them: the
# views exist on provisioned clusters and Serverless (STL_LOAD_ERRORS does not).
_SYS_COLUMNS = {
    "sys_load_error_detail": {
        "user_id", "query_id", "transaction_id", "session_id", "database_name", "table_id",
        "start_time", "file_name", "line_number", "column_name", "column_type",
        "column_length", "position", "error_code", "error_message",
    },
    "sys_session_history": {
        "user_id", "session_id", "database_name", "status", "session_timeout",
        "start_time", "end_time",
    },
    "sys_load_history": {
        "user_id", "query_id", "transaction_id", "session_id", "database_name", "status",
        "table_name", "start_time", "end_time", "duration", "data_source", "file_format",
        "loaded_rows", "loaded_bytes", "source_file_count", "source_file_bytes",
        "file_count_scanned", "file_bytes_scanned", "error_count", "copy_job_id",
    },
}  # fmt: skip


def _sys_select(name: str) -> tuple[exp.Select, dict[str, str]]:
    """A file's SELECT and its tables by alias; every column is one Amazon documents."""
    (query,) = statements(load_sql(name, "redshift"))
    select = sqlglot.parse_one(rules.bind(query), read="redshift")
    assert isinstance(select, exp.Select)
    aliases = {t.alias_or_name: t.name for t in select.find_all(exp.Table)}
    for column in select.find_all(exp.Column):
        assert column.name in _SYS_COLUMNS[aliases[column.table]], column.sql()
    assert "stl_" not in rules.sql_only(query).lower()
    return select, aliases


def test_the_copys_rejects_are_read_by_its_query_id_found_in_this_sessions_history() -> None:
    history, aliases = _sys_select("copy_history")
    assert set(aliases.values()) == {"sys_load_history", "sys_session_history"}
    assert [e.sql("redshift") for e in history.expressions] == [
        "h.query_id",
        "h.loaded_rows",
        "h.error_count",
    ]
    for table in aliases:
        assert f"{table}.session_id = PG_BACKEND_PID()" in history.sql("redshift")
    assert "pg_last_copy_id" not in rules.sql_only(load_sql("copy_history", "redshift")).lower()
    assert history.args["limit"].expression.to_py() == 1
    assert "ORDER BY h.start_time DESC" in history.sql("redshift")
    rejects, aliases = _sys_select("copy_rejects")
    assert set(aliases.values()) == {"sys_load_error_detail"}
    assert [e.sql("redshift") for e in rejects.expressions] == [
        "TRIM(e.file_name)",
        "e.line_number",
        "TRIM(e.column_name)",
        "e.error_code",
        "TRIM(e.error_message)",
    ]
    (query,) = statements(load_sql("copy_rejects", "redshift"))
    assert "WHERE e.query_id = %(query_id)s" in query and "LIMIT %(limit)s" in query
    assert rules.sql_only(load_sql("copy_count", "redshift")) == "SELECT pg_last_copy_count();"


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
            "hashtags_merge",
            "view_tables",
            "view_serving",
            "view_batch_rebuild",
            "view_speed_merge",
        ):
            assert statements(load_sql(name, dialect)), (dialect, name)
    with pytest.raises(FileNotFoundError):
        load_sql("copy_manifest", "postgres")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        load_sql("schema", "mysql")


SUMS = ("followers_sum", "favorite_sum", "retweet_sum")
SUM_TABLES = ("batch_view", "batch_daily", "speed_view")


@pytest.mark.parametrize("read", ["postgres", "redshift", "spark"])
@pytest.mark.parametrize("view", load_views(), ids=lambda v: v.name)
def test_every_view_adds_the_counts_as_decimal_38_0(read: str, view: View) -> None:
    # Spark runs this text too: SUM of a bigint is a bigint there and on Redshift, which
    # two counts near 2^63 overflow; SUM of DECIMAL(38,0) is DECIMAL(38,0).
    select = sqlglot.parse_one(view.select, read=read)
    assert [s.alias_or_name for s in select.expressions] == list(view.columns)
    sums = {s.alias_or_name: s.this for s in select.expressions if isinstance(s.this, exp.Sum)}
    assert sorted(sums) == sorted(SUMS)
    for total in sums.values():
        cast = total.this
        assert isinstance(cast, exp.Cast), total.sql()
        assert cast.to.sql("postgres") == "DECIMAL(38, 0)"


def _columns(dialect: str, table: str) -> dict[str, str]:
    derived = [s for view in load_views() for s in table_ddl(view, dialect)]
    for statement in [*statements(load_sql("schema", dialect)), *derived]:
        create = sqlglot.parse_one(statement, read=dialect)
        if isinstance(create, exp.Create) and create.this.this.name == table:
            return {
                c.name: c.args["kind"].sql("postgres")
                for c in create.this.expressions
                if isinstance(c, exp.ColumnDef)
            }
    raise AssertionError(f"no CREATE TABLE {table} in {dialect}/schema.sql")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "table", ["batch_view", "batch_daily", "batch_hashtags", "batch_languages"]
)
def test_the_sum_columns_are_exact_decimals_and_tweet_count_a_bigint(
    dialect: str, table: str
) -> None:
    columns = _columns(dialect, table)
    assert {name: columns[name] for name in SUMS} == dict.fromkeys(SUMS, "DECIMAL(38, 0)")
    assert columns["tweet_count"] == "BIGINT"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("view", load_views(), ids=lambda v: v.name)
def test_a_views_speed_and_staging_tables_take_its_batch_tables_columns(
    dialect: str, view: View
) -> None:
    like = rules.sql_only(table_ddl(view, dialect)[1])
    assert re.match(
        rf'CREATE TABLE IF NOT EXISTS "{view.speed_table}" \(LIKE "{view.batch_table}"', like
    )
    create = rules.sql_only(speed_staging(view, dialect)[1])
    assert create == f'CREATE TEMP TABLE "staging_{view.speed_table}" (LIKE "{view.speed_table}")'


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


# Every SQL statement of the pipeline lives in lambda_common/sql/ (checked above), not in
# the code. A string literal that opens with one of these keywords (upper case, as the
# SQL here is written; prose in docstrings and messages is not) is taken for inline SQL.
_INLINE_SQL = re.compile(
    r"(?:\s*--[^\n]*\n)*\s*"
    r"(SELECT|INSERT|UPDATE|DELETE|LOCK|WITH|CREATE|DROP|ALTER|TRUNCATE|MERGE|SET)\s"
)
_ROOT = Path(__file__).resolve().parents[2]
_SCANNED = (
    sorted(_ROOT.glob("batch_layer/*.py"))
    + sorted(_ROOT.glob("speed_layer/*.py"))
    + sorted(_ROOT.glob("lambda_common/*.py"))
    + [_ROOT / "serving_layer/status.py"]
)
# Files that still hold inline SQL, while it is moved into lambda_common/sql/ files. To
# be shrunk to nothing (remove a file here once its SQL has moved; the test then keeps it
# out). As of this list:
# - lambda_common/warehouse/: "SELECT 1" (check);
# - serving_layer/status.py: its status queries (being moved to status_*.sql).
_INLINE_SQL_ALLOWED = frozenset({"lambda_common/warehouse/", "serving_layer/status.py"})


def _inline_sql(path: Path, root: Path = _ROOT) -> list[str]:
    """``file:line: first line`` of each string literal in ``path`` that looks like SQL."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        # f-strings too: ast.walk reaches the literal parts of a JoinedStr.
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _INLINE_SQL.match(node.value)
        ):
            first = node.value.strip().splitlines()[0]
            found.append((node.lineno, f"{path.relative_to(root)}:{node.lineno}: {first[:60]}"))
    return [hit for _, hit in sorted(found)]


def test_no_inline_sql_outside_the_files_still_being_moved() -> None:
    assert all(p.is_file() for p in _SCANNED) and len(_SCANNED) > 10
    offenders = [
        hit
        for path in _SCANNED
        if str(path.relative_to(_ROOT)) not in _INLINE_SQL_ALLOWED
        for hit in _inline_sql(path)
    ]
    assert not offenders, "inline SQL (move it to lambda_common/sql/):\n" + "\n".join(offenders)


def test_the_inline_sql_check_finds_sql_and_not_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'A = "SELECT 1"\n'
        'B = f"""\n    -- why\n    DELETE FROM t WHERE x = {1}"""\n'
        'C = "Select the rows"\n'
        'D = "LOCK batch_lock"\n'
        "def f():\n"
        '    """Update the view."""\n',
        encoding="utf-8",
    )
    hits = [hit.split(": ", 1)[1] for hit in _inline_sql(sample, tmp_path)]
    assert hits == ["SELECT 1", "-- why", "LOCK batch_lock"]
