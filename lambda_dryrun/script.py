"""The dry run as a SQL script: each phase's statements in order, each ended by ``;``,
with the transactions' ``BEGIN``, ``COMMIT`` and ``ROLLBACK`` where the driver sends them
(psycopg2 opens a transaction before the first statement after a commit or rollback),
and, above each statement, the SQL file it comes from and the names of its bound values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

from batch_layer.redshift_copy import CREDENTIALS, copy_sql
from lambda_common.sql import load_sql, statements
from lambda_common.views import View
from lambda_common.views.sql import batch_rebuild, serving_ddl, table_ddl
from lambda_dryrun.dryrun import Phase
from lambda_dryrun.scenario import DIALECT

__all__ = ["bound_names", "script", "source_files"]


@cache
def _files() -> dict[str, str]:
    root = resources.files("lambda_common.sql")
    names = sorted(
        {
            p.name.removesuffix(".sql")
            for folder in ("common", DIALECT)
            for p in (root / folder).iterdir()
            if p.name.endswith(".sql")
        }
    )
    return {text: f"{name}.sql" for name in names for text in statements(load_sql(name, DIALECT))}


def source_files(views: Iterable[View] = ()) -> dict[str, str]:
    """The SQL file each statement text of the dialect comes from, with the views' tables,
    serving views and rebuilds their templates fill in (``view_tables.sql (locations)``)."""
    found = dict(_files())
    found.update({copy_sql(mode): f"copy_manifest.sql ({mode})" for mode in CREDENTIALS})
    for view in views:
        for template, texts in (
            ("view_tables", table_ddl(view, DIALECT)),
            ("view_serving", [serving_ddl(view, DIALECT)]),
            ("view_batch_rebuild", batch_rebuild(view, DIALECT)),
        ):
            found.update(dict.fromkeys(texts, f"{template}.sql ({view.name})"))
    return found


def bound_names(params: Any, text: str) -> str:
    """The placeholders of ``text`` that values are bound to (never the values): a
    statement given values it has no placeholder for (the code passes one set of values
    to each statement of a file) shows none."""
    if params is None:
        return ""
    if isinstance(params, dict):
        return ", ".join(f"%({name})s" for name in params if f"%({name})s" in text)
    return ", ".join("%s" for _ in params)


def _phase(phase: Phase, files: dict[str, str]) -> Iterator[str]:
    count = len(phase.statements)
    commits = sum(1 for s in phase.sent if s.kind == "commit")
    yield f"-- ===== phase {phase.name}: {phase.title}"
    yield f"-- {count} statements, {commits} transactions committed"
    yield ""
    open_transaction = False
    number = 0
    for sent in phase.sent:
        if sent.kind != "statement":
            if open_transaction:
                yield f"{sent.kind.upper()};"
                yield ""
            open_transaction = False
            continue
        if not open_transaction:
            yield "BEGIN;"
            open_transaction = True
        number += 1
        about = [f"{phase.name} {number}"]
        if sent.text in files:
            about.append(f"file {files[sent.text]}")
        names = bound_names(sent.params, sent.text)
        if names:
            about.append(f"bound: {names}")
        yield "-- [" + "; ".join(about) + "]"
        yield sent.text.rstrip().rstrip(";") + ";"
    if open_transaction:
        yield "-- (the transaction is still open here)"


def script(phases: Iterable[Phase], views: Iterable[View] = ()) -> str:
    """The phases as one SQL script (``views``: those whose templates are named)."""
    files = source_files(views)
    lines = [
        "-- make redshift-sql: the SQL the Redshift path (WAREHOUSE_DIALECT=redshift) sends,",
        "-- in order, recorded from the code itself; values are placeholders, never shown.",
        "",
    ]
    for phase in phases:
        lines.extend(_phase(phase, files))
        lines.append("")
    return "\n".join(lines)
