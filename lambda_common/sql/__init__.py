"""SQL shipped with the package, loaded by name.

``load_sql(name, dialect)`` returns ``<dialect>/<name>.sql`` when the dialect has its own
version, else ``common/<name>.sql``. Values are always bound as parameters
(``%(name)s``, psycopg2 style); identifiers are fixed in the files.

What both warehouses share is written once, in ``common/``: where they differ in a
clause (Redshift's DISTKEY, SORTKEY and DISTSTYLE, PostgreSQL's index or primary key, a
type's name), the text has a slot ``{name}`` that ``load_sql`` fills with the dialect's
clause of that name (:func:`clauses`, from ``clauses/<dialect>.sql``). Any other
``{name}`` is left for the code that fills the file's identifiers in.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

DIALECTS = ("postgres", "redshift")

_SLOT = re.compile(r"\{(\w+)\}")
_CLAUSE = re.compile(r"-- clause: (\w+)")


def _check(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")


@cache
def clauses(dialect: str) -> dict[str, str]:
    """The clauses of ``dialect`` by name: in ``clauses/<dialect>.sql``, the lines under
    ``-- clause: name`` up to the next one, without comment lines and the blank lines
    around them (an empty clause is an empty string)."""
    _check(dialect)
    text = (resources.files("lambda_common.sql") / "clauses" / f"{dialect}.sql").read_text(
        encoding="utf-8"
    )
    found: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for line in text.splitlines():
        header = _CLAUSE.fullmatch(line.strip())
        if header:
            if header[1] in found:
                raise ValueError(f"clause {header[1]!r} twice in clauses/{dialect}.sql")
            lines = found[header[1]] = []
        elif lines is not None and not line.lstrip().startswith("--"):
            lines.append(line.rstrip())
    return {name: "\n".join(body).strip("\n") for name, body in found.items()}


@cache
def load_sql(name: str, dialect: str) -> str:
    """The text of one SQL file for ``dialect`` (``postgres`` or ``redshift``), its
    dialect's clauses filled in."""
    _check(dialect)
    root = resources.files("lambda_common.sql")
    fill = clauses(dialect)
    for folder in (dialect, "common"):
        candidate = root / folder / f"{name}.sql"
        if candidate.is_file():
            text = candidate.read_text(encoding="utf-8")
            return _SLOT.sub(lambda slot: fill.get(slot[1], slot[0]), text)
    raise FileNotFoundError(f"no SQL file {name!r} for dialect {dialect}")


def statements(text: str) -> list[str]:
    """Split a file into statements on ``;`` at line ends (the files keep to that form)."""
    parts = [part.strip() for part in text.split(";\n")]
    return [p.rstrip(";").strip() for p in parts if p and not _only_comments(p)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())
