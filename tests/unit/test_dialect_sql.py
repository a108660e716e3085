"""The SQL both warehouses share is written once (``lambda_common/sql/common/``) with the
clauses they differ in filled per dialect (``lambda_common/sql/clauses/``): what each
dialect renders is what its own files rendered before they were merged.

``tests/fixtures/dialect_sql/rendered.json`` holds the statements the schema, the
staging merge and each view's tables and serving view rendered to when each dialect had
its own files. Comments may differ (they were merged too); the SQL may not: Redshift's
(which cannot run here) to the byte, PostgreSQL's but for white space. A serving view's
text is compared whole, comments too: its SHA-256 decides whether a start replaces it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lambda_common.sql import DIALECTS, clauses, load_sql, statements
from lambda_common.views import load_views
from lambda_common.views.sql import serving_ddl, table_ddl

BEFORE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "dialect_sql" / "rendered.json").read_text(
        encoding="utf-8"
    )
)


def _rendered(dialect: str) -> dict[str, list[str]]:
    out = {
        "schema": statements(load_sql("schema", dialect)),
        "staging_merge": statements(load_sql("staging_merge", dialect)),
    }
    for view in load_views():
        out[f"view_tables {view.name}"] = table_ddl(view, dialect)
        out[f"view_serving {view.name}"] = [serving_ddl(view, dialect)]
    return out


def _sql_only(statement: str) -> str:
    return "\n".join(
        line for line in statement.splitlines() if not line.lstrip().startswith("--")
    ).strip()


def _layout_free(statement: str) -> str:
    """The SQL with its white space folded (none inside parentheses' edges)."""
    folded = re.sub(r"\s+", " ", _sql_only(statement))
    return re.sub(r"\(\s+", "(", re.sub(r"\s+\)", ")", folded))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_renders_the_statements_its_own_files_did(dialect: str) -> None:
    before, now = BEFORE[dialect], _rendered(dialect)
    assert sorted(now) == sorted(before)
    for name, old in before.items():
        new = now[name]
        if name.startswith("view_serving"):
            assert new == old, name
        elif dialect == "redshift":
            assert [_sql_only(s) for s in new] == [_sql_only(s) for s in old], name
        else:
            assert [_layout_free(s) for s in new] == [_layout_free(s) for s in old], name


def test_the_comparison_sees_a_changed_clause() -> None:
    old = BEFORE["redshift"]["schema"]
    changed = [s.replace("DISTSTYLE ALL", "DISTSTYLE EVEN") for s in old]
    assert [_sql_only(s) for s in changed] != [_sql_only(s) for s in old]
    pg = BEFORE["postgres"]["schema"]
    assert [_layout_free(s.replace("text", "varchar")) for s in pg] != [_layout_free(s) for s in pg]
    assert _layout_free("NOT EXISTS (\n  SELECT 1\n)") == _layout_free("NOT EXISTS (SELECT 1)")


def test_both_dialects_fill_the_same_clauses_and_no_slot_is_left() -> None:
    names = {dialect: set(clauses(dialect)) for dialect in DIALECTS}
    assert names["postgres"] == names["redshift"] and names["postgres"]
    for dialect in DIALECTS:
        for name in ("schema", "staging_merge", "view_tables"):
            text = load_sql(name, dialect)
            assert not any("{" + clause + "}" in text for clause in names[dialect]), name
