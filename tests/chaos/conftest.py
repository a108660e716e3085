"""One line per fault-injection scenario at the end of the run: PASS/FAIL, events, duration.

``CHAOS_FULL=1`` (``make chaos``) runs every scenario at its full size; without it the
scenarios run at a quick size (``make test``), and those marked ``chaos_only`` are left to
``make chaos``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

import pytest

FULL = os.environ.get("CHAOS_FULL") == "1"


def size(quick: int, full: int) -> int:
    """The scenario's size: ``full`` under ``make chaos``, ``quick`` under ``make test``."""
    return full if FULL else quick


@dataclass
class Report:
    """What one scenario did, for its summary line."""

    name: str
    events: int = 0
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


_LINES: list[str] = []
_REPORT = pytest.StashKey[Report]()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Iterator[Report]:
    """The scenario's report: add the events it produced and notes on what it injected."""
    entry = Report(request.node.name.removeprefix("test_"))
    request.node.stash[_REPORT] = entry
    yield entry


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    result = outcome.get_result()
    entry = item.stash.get(_REPORT, None)
    if entry is None or result.when != "call":
        return
    verdict = "PASS" if result.passed else "SKIP" if result.skipped else "FAIL"
    notes = f" ({'; '.join(entry.notes)})" if entry.notes else ""
    _LINES.append(
        f"{verdict} {entry.name}: {entry.events:,} events, "
        f"{time.monotonic() - entry.started:.1f}s{notes}"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.section(f"fault injection ({'full' if FULL else 'quick'} size)")
        for line in _LINES:
            terminalreporter.write_line(line)
