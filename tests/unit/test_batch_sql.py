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
