"""A recording stand-in for a psycopg2 connection: what the pipeline's code sends, in order.

``make redshift-sql`` runs the real code paths (``make init``, a batch cycle, a speed
micro-batch) against it, so the statements it writes out are the ones the code sends,
whatever the code is at the time; the unit tests use it (``tests/unit/fake_connection.py``)
to check what ``Warehouse`` and the layers send.

It keeps every statement with its parameters (``psycopg2.sql`` compositions rendered as
text, no server needed), every ``COPY ... FROM STDIN`` body, and the commits and
rollbacks, in one journal. A statement's rows come from ``answers``: rows by statement
text, or a function of the parameters giving them (called on every run of that text, so
it can also note what was sent). ``fail_on`` raises an error for statements that start a
certain way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import psycopg2
from psycopg2 import sql

__all__ = ["RecordingConnection", "RecordingCursor", "Sent", "render"]

Rows = list[tuple[Any, ...]]
Answer = Rows | Callable[[Any], Rows]
"""What a statement returns: rows, or a function of its parameters giving them."""


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


@dataclass(frozen=True)
class Sent:
    """One thing the connection was asked to do, in order: a statement with its
    parameters, or the end of a transaction (``commit``, ``rollback``)."""

    kind: Literal["statement", "commit", "rollback"]
    text: str = ""
    params: Any = None


class RecordingCursor:
    """The cursor of a :class:`RecordingConnection`."""

    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.rows: Rows = []
        self.rowcount = -1  # psycopg2's "not known": no statement here affects rows

    def execute(self, statement: object, params: Any = None) -> None:
        """Record the statement; raise the scripted error, else keep its answer's rows."""
        text = render(statement)
        self.conn.record(Sent("statement", text, params))
        prefix, error = self.conn.fail_on
        if error is not None and text.startswith(prefix):
            raise error
        answer = self.conn.answers.get(text, [])
        self.rows = list(answer(params) if callable(answer) else answer)

    def copy_expert(self, statement: object, stream: Any) -> None:
        """Read a ``COPY ... FROM STDIN`` to its end, keeping what it sent."""
        data = stream.read()
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        self.conn.record(Sent("statement", render(statement)))
        self.conn.copied.append(text)
        self.rowcount = text.count("\n")

    @property
    def connection(self) -> RecordingConnection:
        """The connection (``psycopg2.extras.execute_values`` asks for its encoding)."""
        return self.conn

    def mogrify(self, template: bytes, args: tuple[Any, ...]) -> bytes:
        """One row of ``execute_values``: the template with its placeholders kept, so no
        value is ever written out, or, with ``literal_rows``, with the values as
        literals (numbers and text are all the tests need)."""
        if not self.conn.literal_rows:
            return template
        literals = tuple(
            str(a) if isinstance(a, int) else "'" + str(a).replace("'", "''") + "'" for a in args
        )
        return (template.decode("utf-8") % literals).encode("utf-8")

    def fetchall(self) -> Rows:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def close(self) -> None:
        return None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __enter__(self) -> RecordingCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class RecordingConnection:
    """Records what is sent (:attr:`journal`; :attr:`executed` the statements alone).

    ``answers``: rows by statement text (or a function of the parameters giving them);
    ``fail_on``: (prefix, error) to raise for statements starting with the prefix;
    ``literal_rows``: ``execute_values`` rows with their values (else placeholders).
    """

    closed = False
    encoding = "UTF8"  # psycopg2.extras.execute_values encodes the statement with it

    def __init__(
        self, answers: dict[str, Answer] | None = None, *, literal_rows: bool = False
    ) -> None:
        self.answers: dict[str, Any] = dict(answers or {})
        self.fail_on: tuple[str, psycopg2.Error | None] = ("", None)
        self.literal_rows = literal_rows
        self.journal: list[Sent] = []
        self.executed: list[tuple[str, Any]] = []
        self.copied: list[str] = []  # what each COPY FROM STDIN sent
        self.commits = self.rollbacks = 0

    def record(self, sent: Sent) -> None:
        """Keep one thing sent, in order."""
        self.journal.append(sent)
        if sent.kind == "statement":
            self.executed.append((sent.text, sent.params))

    @property
    def statements(self) -> list[str]:
        """The statements sent, in order, without their parameters."""
        return [text for text, _ in self.executed]

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def commit(self) -> None:
        self.commits += 1
        self.record(Sent("commit"))

    def rollback(self) -> None:
        self.rollbacks += 1
        self.record(Sent("rollback"))

    def close(self) -> None:
        return None
