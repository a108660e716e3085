"""A recording stand-in for a psycopg2 connection, for unit tests of what
``lambda_common.warehouse.Warehouse`` sends: the package's own recorder
(:mod:`lambda_common.warehouse.recorder`, which ``make redshift-sql`` runs the code against),
with the rows ``execute_values`` sends written out as literals.
"""

from __future__ import annotations

from typing import Any

from lambda_common.warehouse.recorder import RecordingConnection, RecordingCursor, render

__all__ = ["FakeConnection", "FakeCursor", "render"]

FakeCursor = RecordingCursor


class FakeConnection(RecordingConnection):
    """``answers``: rows by statement text (or a function of the parameters giving them);
    ``fail_on``: (prefix, error) to raise."""

    def __init__(self, answers: dict[str, Any] | None = None) -> None:
        super().__init__(answers, literal_rows=True)
