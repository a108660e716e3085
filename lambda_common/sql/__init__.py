"""SQL shipped with the package, loaded by name.

``load_sql(name, dialect)`` returns ``<dialect>/<name>.sql`` when the dialect has its own
version, else ``common/<name>.sql``. Values are always bound as parameters
(``%(name)s``, psycopg2 style); identifiers are fixed in the files.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

DIALECTS = ("postgres", "redshift")


@cache
def load_sql(name: str, dialect: str) -> str:
    """The text of one SQL file for ``dialect`` (``postgres`` or ``redshift``)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    root = resources.files("lambda_common.sql")
    for folder in (dialect, "common"):
        candidate = root / folder / f"{name}.sql"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(f"no SQL file {name!r} for dialect {dialect}")


def statements(text: str) -> list[str]:
    """Split a file into statements on ``;`` at line ends (the files keep to that form)."""
    parts = [part.strip() for part in text.split(";\n")]
    return [p.rstrip(";").strip() for p in parts if p and not _only_comments(p)]


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())
