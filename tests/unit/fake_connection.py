"""A recording stand-in for a psycopg2 connection, for unit tests of what
``lambda_common.warehouse.Warehouse`` sends: every statement (``psycopg2.sql``
compositions rendered as text) with its parameters, the rows scripted for a statement,
an error scripted for statements that start a certain way, and the commits and rollbacks.
"""

from __future__ import annotations

from typing import Any

import psycopg2
from psycopg2 import sql


def render(statement: object) -> str:
    """A statement as text: ``psycopg2.sql`` compositions with identifiers double-quoted,
    no connection needed."""
    if isinstance(statement, str):
        return statement
    if isinstance(statement, bytes):  # what execute_values sends
        return statement.decode("utf-8")
    if isinstance(statement, sql.Composed):
        return "".join(render(part) for part in statement.seq)
    if isinstance(statement, sql.Identifier):
        return ".".join('"' + s.replace('"', '""') + '"' for s in statement.strings)
    if isinstance(statement, sql.SQL):
        return statement.string
    raise TypeError(type(statement))


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []
        self.rowcount = -1  # psycopg2's "not known": no statement here affects rows

    def execute(self, statement: object, params: Any = None) -> None:
        text = render(statement)
        self.conn.executed.append((text, params))
        prefix, error = self.conn.fail_on
        if error is not None and text.startswith(prefix):
            raise error
        answer = self.conn.answers.get(text, [])
        self.rows = list(answer(params) if callable(answer) else answer)

    def copy_expert(self, statement: object, stream: Any) -> None:
        """Read a ``COPY ... FROM STDIN`` to its end, keeping what it sent."""
        data = stream.read()
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        self.conn.executed.append((render(statement), None))
        self.conn.copied.append(text)
        self.rowcount = text.count("\n")

    @property
    def connection(self) -> FakeConnection:
        return self.conn

    def mogrify(self, template: bytes, args: tuple[Any, ...]) -> bytes:
        """``template`` with ``args`` as literals (numbers and text are all this needs)."""
        literals = tuple(
            str(a) if isinstance(a, int) else "'" + str(a).replace("'", "''") + "'" for a in args
        )
        return (template.decode("utf-8") % literals).encode("utf-8")

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeConnection:
    """``answers``: rows by statement text (or a function of the parameters giving them);
    ``fail_on``: (prefix, error) to raise."""

    closed = False
    encoding = "UTF8"  # psycopg2.extras.execute_values encodes the statement with it

    def __init__(self, answers: dict[str, list[tuple[Any, ...]]] | None = None) -> None:
        self.answers: dict[str, Any] = dict(answers or {})
        self.fail_on: tuple[str, psycopg2.Error | None] = ("", None)
        self.executed: list[tuple[str, Any]] = []
        self.copied: list[str] = []  # what each COPY FROM STDIN sent
        self.commits = self.rollbacks = 0

    @property
    def statements(self) -> list[str]:
        """The statements sent, in order, without their parameters."""
        return [text for text, _ in self.executed]

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1
