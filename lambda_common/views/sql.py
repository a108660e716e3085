"""The warehouse SQL of a view, derived from its definition (:mod:`lambda_common.views`).

The templates are ``lambda_common/sql/*/view_*.sql`` and ``relation_*.sql``; this module
fills in the view's names and columns. Names come from validated definitions (lower-case
letters, digits and ``_``) and are double-quoted all the same; values are always bound
(``%(horizon)s``). The view's own SELECT goes in verbatim, for the batch tables and the
speed layer's micro-batches alike.
"""

from __future__ import annotations

import hashlib

from lambda_common.sql import load_sql, statements
from lambda_common.views import View

__all__ = [
    "batch_fingerprint",
    "batch_rebuild",
    "batch_rows",
    "quote",
    "serving_ddl",
    "speed_aggregate",
    "speed_clear",
    "speed_expire",
    "speed_insert",
    "speed_merge",
    "speed_staging",
    "staging_name",
    "table_ddl",
]


def quote(name: str) -> str:
    """A SQL identifier, double-quoted (PostgreSQL and Redshift alike)."""
    return '"' + name.replace('"', '""') + '"'


def _columns(view: View, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote(c) for c in view.columns)


def _keys(view: View, alias: str) -> str:
    return ", ".join(f"{alias}.{quote(c)}" for c in view.key_columns)


def table_ddl(view: View, dialect: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` of the view's batch and speed tables."""
    keys = ",\n    ".join(f"{quote(k.name)} {k.sql_type} NOT NULL" for k in view.keys)
    text = load_sql("view_tables", dialect).format(
        batch=quote(view.batch_table),
        speed=quote(view.speed_table),
        keys=keys,
        key_list=", ".join(quote(k.name) for k in view.keys),
    )
    return statements(text)


def serving_ddl(view: View, dialect: str) -> str:
    """``CREATE OR REPLACE VIEW`` of the view's serving view (one statement): the union of
    its batch and speed tables' rows, each ``view_serving_rows.sql`` filled in."""
    rows = _without_comments("view_serving_rows", dialect).strip("\n")
    layers = {"batch": ("b", view.batch_table), "speed": ("s", view.speed_table)}
    (statement,) = statements(
        load_sql("view_serving", dialect).format(
            serving=quote(view.serving_view),
            u_keys=_keys(view, "u"),
            **{
                f"{layer}_rows": rows.format(
                    keys=_keys(view, alias), alias=alias, table=quote(table)
                )
                for layer, (alias, table) in layers.items()
            },
        )
    )
    return statement


def _without_comments(name: str, dialect: str) -> str:
    """A SQL file's text without its comment lines (it goes inside another statement)."""
    return "\n".join(
        line for line in load_sql(name, dialect).splitlines() if not line.lstrip().startswith("--")
    )


def _relation_select(name: str, dialect: str) -> str:
    """A relation file's SELECT without its comment lines (it goes inside a WITH)."""
    return _without_comments(name, dialect).strip()


def batch_rebuild(view: View, dialect: str) -> list[str]:
    """Replace the batch table's hours ``%(since)s <= event_hour < %(until)s`` with the
    view's SELECT over its relation, read from the raw tables for the same hours (a full
    rebuild is the range from :data:`batch_layer.hours.BEGINNING` to the horizon)."""
    return statements(
        load_sql("view_batch_rebuild", dialect).format(
            batch=quote(view.batch_table),
            columns=_columns(view),
            relation=view.reads,
            relation_select=_relation_select(f"relation_{view.reads}", dialect),
            select=view.select,
        )
    )


def batch_rows(view: View, dialect: str) -> str:
    """The SELECT of the batch table's rows for the hours ``%(since)s <= event_hour <
    %(until)s``, keys first (``make verify`` reads them as the reader)."""
    (statement,) = statements(
        load_sql("view_batch_rows", dialect).format(
            batch=quote(view.batch_table), columns=_columns(view)
        )
    )
    return statement


def staging_name(view: View) -> str:
    """The session-private table a micro-batch's rows of ``view`` are staged in."""
    return f"staging_{view.speed_table}"


def speed_staging(view: View, dialect: str) -> list[str]:
    """(Re)create the temporary staging table of ``view``'s micro-batch rows: kept for the
    session, emptied by each micro-batch (:func:`speed_merge`)."""
    return statements(
        load_sql("view_speed_staging", dialect).format(
            staging=quote(staging_name(view)), speed=quote(view.speed_table)
        )
    )


def speed_insert(view: View, dialect: str) -> str:
    """The multi-row INSERT into the staging table (``%s``: the VALUES list)."""
    (statement,) = statements(
        load_sql("view_speed_insert", dialect).format(
            staging=quote(staging_name(view)), columns=_columns(view)
        )
    )
    return statement


def speed_aggregate(view: View, dialect: str) -> list[str]:
    """The view's SELECT over its relation made of the micro-batch's staged events, from
    ``%(since)s`` on (the horizon), into its staging table: the micro-batch's increments,
    one row per key, as :func:`batch_rebuild` computes the batch table's."""
    return statements(
        load_sql("view_speed_aggregate", dialect).format(
            staging=quote(staging_name(view)),
            columns=_columns(view),
            relation=view.reads,
            relation_select=_relation_select(f"speed_relation_{view.reads}", dialect),
            select=view.select,
        )
    )


def speed_merge(view: View, dialect: str) -> list[str]:
    """Add the staged increments to the speed table (one MERGE), then empty the staging
    table."""
    speed = quote(view.speed_table)
    match = " AND ".join(f"{speed}.{quote(c)} = s.{quote(c)}" for c in view.key_columns)
    return statements(
        load_sql("view_speed_merge", dialect).format(
            speed=speed,
            staging=quote(staging_name(view)),
            columns=_columns(view),
            s_columns=_columns(view, "s"),
            match=match,
        )
    )


def speed_expire(view: View, dialect: str) -> list[str]:
    """Drop the speed table's hours before ``%(horizon)s`` (the batch table serves them)."""
    return statements(load_sql("view_speed_expire", dialect).format(speed=quote(view.speed_table)))


def speed_clear(view: View, dialect: str) -> list[str]:
    """Empty the speed table (the first micro-batch of a fresh checkpoint)."""
    return statements(load_sql("view_speed_clear", dialect).format(speed=quote(view.speed_table)))


def batch_fingerprint(view: View, dialect: str) -> str:
    """SHA-256 of the view's rebuild SQL: another value than the one recorded when its
    batch table was last rebuilt in full means the table was built by another definition
    (the view's SELECT, keys, relation or table changed), so it is rebuilt in full."""
    return hashlib.sha256("\n".join(batch_rebuild(view, dialect)).encode("utf-8")).hexdigest()
