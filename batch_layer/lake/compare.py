"""``make verify``'s judgement: rows recomputed from the master dataset against the rows
the warehouse holds, and the events each object holds against the load ledger.

Pure functions of the rows, so the wording of every line and the choice of the first
differing keys are unit-tested without a warehouse or S3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambda_common.terminal import escape
from lambda_common.views import MEASURES, View

Key = tuple[Any, ...]
Measures = tuple[Any, ...]

SHOWN = 3
"""How many differing keys (or objects) a FAIL line names."""


@dataclass(frozen=True)
class Outcome:
    """One line of the report: a view or the ledger, OK or FAIL."""

    ok: bool
    name: str
    detail: str
    rows: int = 0
    """Rows (or objects) compared."""

    @property
    def line(self) -> str:
        """``OK   locations (batch_view): ...`` or ``FAIL ...``."""
        return f"{'OK' if self.ok else 'FAIL':<4} {self.name}: {self.detail}"


def _value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, str):
        return repr(escape(value))
    return str(value)


def show_key(key: Key) -> str:
    """A row's identity for a person: ``(2026-12-05 10:00, 'Paris')``."""
    return "(" + ", ".join(_value(v) for v in key) + ")"


def _measures(values: Measures | None) -> str:
    if values is None:
        return "no row"
    return ", ".join(f"{name} {value}" for name, value in zip(MEASURES, values, strict=True))


def _sort_key(key: Key) -> tuple[Any, ...]:
    # Keys of one view share their types; str() keeps the order total for None too.
    return tuple((v is None, v if v is not None else "") for v in key)


def compare_view(
    view: View, warehouse: Mapping[Key, Measures], lake: Mapping[Key, Measures]
) -> Outcome:
    """Every row of ``view``'s batch table against the row recomputed from the master
    dataset for the same key (a row on one side only differs from no row)."""
    name = f"{view.name} ({view.batch_table})"
    keys = warehouse.keys() | lake.keys()
    differing = sorted(
        (k for k in keys if warehouse.get(k) != lake.get(k)),
        key=_sort_key,
    )
    tweets = sum(int(v[0]) for v in lake.values())
    if not differing:
        return Outcome(True, name, f"{len(keys):,} rows and {tweets:,} tweets match", len(keys))
    shown = "; ".join(
        f"{show_key(k)}: warehouse {_measures(warehouse.get(k))}, "
        f"master dataset {_measures(lake.get(k))}"
        for k in differing[:SHOWN]
    )
    detail = f"{len(differing):,} of {len(keys):,} rows differ, first {shown}"
    return Outcome(False, name, detail, len(keys))


@dataclass(frozen=True)
class Counts:
    """What one object holds: valid events and rejected messages."""

    events: int
    rejects: int

    def __str__(self) -> str:
        return f"{self.events:,} events and {self.rejects:,} rejects"


def compare_ledger(ledger: Mapping[str, Counts], counted: Mapping[str, Counts]) -> Outcome:
    """Each object the ledger records against what S3 holds for it (``counted``: the
    objects found, counted from their lines; one missing from it was not found)."""
    differing = sorted(k for k, v in ledger.items() if counted.get(k) != v)
    events = sum(c.events for c in ledger.values())
    rejects = sum(c.rejects for c in ledger.values())
    if not differing:
        detail = (
            f"{len(ledger):,} objects, {events:,} events and {rejects:,} rejects as counted in S3"
        )
        return Outcome(True, "load_ledger", detail, len(ledger))

    def found(key: str) -> str:
        got = counted.get(key)
        return "S3 has no such object" if got is None else f"S3 holds {got}"

    shown = "; ".join(f"{k}: ledger {ledger[k]}, {found(k)}" for k in differing[:SHOWN])
    detail = f"{len(differing):,} of {len(ledger):,} objects differ, first {shown}"
    return Outcome(False, "load_ledger", detail, len(ledger))


def summary(outcomes: Sequence[Outcome], elapsed_s: float, events: int) -> str:
    """The closing line: ``verify: OK, 3 views and 1,234 objects in 4.2s (5,000 events/s)``
    or ``verify: FAIL (2 of 4 checks)``."""
    failed = [o for o in outcomes if not o.ok]
    rate = events / elapsed_s if elapsed_s > 0 else 0.0
    verdict = "OK" if not failed else f"FAIL ({len(failed)} of {len(outcomes)} checks)"
    return (
        f"verify: {verdict}, {events:,} events checked in {elapsed_s:.1f}s ({rate:,.0f} events/s)"
    )
