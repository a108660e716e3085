"""A view's SELECT in DuckDB's dialect, for ``make verify``: the view's own text, read in
the warehouse's dialect and written in DuckDB's by sqlglot, accepted only when the
translation is exact.

Exact means that the text DuckDB runs parses (as DuckDB SQL) to the very expression tree
the view's text parses to (as the warehouse's SQL): sqlglot's trees name operations, not
spellings, so a function DuckDB spells otherwise is still the same operation, while any
rewrite of what is computed (an emulation, a changed cast) makes the trees differ and the
view is refused rather than checked with something else.
"""

from __future__ import annotations

import sqlglot
from sqlglot.errors import SqlglotError

from lambda_common.errors import ConfigError
from lambda_common.views import View

_READ = {"postgres": "postgres", "redshift": "redshift"}
"""sqlglot's name of each warehouse dialect (``WAREHOUSE_DIALECT``)."""


def translate(select: str, dialect: str) -> str:
    """``select`` (one statement in the warehouse's ``dialect``) in DuckDB's dialect."""
    (text,) = sqlglot.transpile(select, read=_READ[dialect], write="duckdb")
    return text


def is_exact(select: str, translated: str, dialect: str) -> bool:
    """Whether ``translated`` (DuckDB) computes what ``select`` (``dialect``) does: both
    parse to the same expression tree."""
    original = sqlglot.parse_one(select, read=_READ[dialect])
    return original == sqlglot.parse_one(translated, read="duckdb")


def duckdb_select(view: View, dialect: str) -> str:
    """The view's SELECT as DuckDB runs it; ``ConfigError`` naming the view's file when
    sqlglot cannot read it or cannot translate it exactly."""
    try:
        translated = translate(view.select, dialect)
        exact = is_exact(view.select, translated, dialect)
    except SqlglotError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"view {view.name} ({view.source}): sqlglot cannot read it: {first}"
        ) from e
    if not exact:
        raise ConfigError(
            f"view {view.name} ({view.source}): its SELECT has no exact DuckDB translation "
            "(sqlglot rewrites what it computes), so make verify cannot check it"
        )
    return translated
