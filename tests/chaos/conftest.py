"""One line per fault-injection scenario at the end of the run: PASS/FAIL, events, duration.

``CHAOS_FULL=1`` (``make chaos``) runs every scenario at its full size; without it the
scenarios run at a quick size (``make test``), and those marked ``chaos_only`` are left to
``make chaos``.

Every scenario runs under each ``KAFKA_CLIENT`` its marks allow (``client_params``): the
``kafka_client`` parameter sets the client of the lane's settings, so of every producer
and batch process the scenario starts (``Lane.env``) and of the cycles it runs itself.

Every scenario ends with ``make verify`` over its lane (``pytest_runtest_call``): once its
own exactness checks have passed, every batch view recomputed from the master dataset in
S3 by DuckDB must match the warehouse row for row, and the load ledger the objects.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from batch_layer.lake.verify import verify
from tests.integration.helpers import KAFKA_CLIENTS, Lane

FULL = os.environ.get("CHAOS_FULL") == "1"


def size(quick: int, full: int) -> int:
    """The scenario's size: ``full`` under ``make chaos``, ``quick`` under ``make test``."""
    return full if FULL else quick


# The marks that say under which clients a scenario runs (see ``client_params``).
KAFKA_PYTHON_ONLY = "kafka_python_only"
CONFLUENT_IN_MAKE_TEST = "confluent_in_make_test"


def client_params(marks: Iterable[str]) -> list[pytest.ParameterSet]:
    """The ``kafka_client`` values a scenario with the marks named ``marks`` runs under.

    Both clients by default, the second only in ``make chaos`` (``chaos_only``): the CI's
    time allows a few confluent scenarios, which ask for it with ``confluent_in_make_test``.
    ``kafka_python_only(reason)`` keeps a scenario to the default client where the other
    would add nothing (the fault is met by no Kafka client, or by one covered elsewhere).
    """
    names = set(marks)
    default, other = KAFKA_CLIENTS
    if KAFKA_PYTHON_ONLY in names:
        return [pytest.param(default, id=default)]
    where = () if CONFLUENT_IN_MAKE_TEST in names else (pytest.mark.chaos_only,)
    return [pytest.param(default, id=default), pytest.param(other, id=other, marks=where)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{KAFKA_PYTHON_ONLY}(reason): a fault scenario run under KAFKA_CLIENT=kafka-python "
        "only (tests/chaos)",
    )
    config.addinivalue_line(
        "markers",
        f"{CONFLUENT_IN_MAKE_TEST}: a fault scenario make test runs under KAFKA_CLIENT="
        "confluent too (the others' confluent runs are make chaos's)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kafka_client" in metafunc.fixturenames:
        metafunc.parametrize(
            "kafka_client",
            client_params(m.name for m in metafunc.definition.iter_markers()),
            indirect=True,
        )


@pytest.fixture
def kafka_client(request: pytest.FixtureRequest) -> str:
    """The scenario's ``KAFKA_CLIENT`` (parametrized by ``pytest_generate_tests``)."""
    return str(request.param)


@pytest.fixture
def lane(lane: Lane, kafka_client: str) -> Lane:
    """The session's lane (a private topic and schema) under the scenario's client."""
    return lane.with_client(kafka_client)


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


def scenario_lane(item: pytest.Item) -> Lane:
    """The one lane a scenario ran in (``lane``, or the topology's ``cluster_lane``)."""
    lanes = [v for v in getattr(item, "funcargs", {}).values() if isinstance(v, Lane)]
    assert len(lanes) == 1, f"{item.name}: a scenario runs in one lane, make verify checks it"
    return lanes[0]


def check_verified(lane: Lane, entry: Report | None) -> None:
    """``make verify`` over ``lane`` passes (the report shown on a FAIL); noted in the
    scenario's summary line."""
    checked = verify(lane.settings)
    assert checked.ok, f"make verify after the scenario:\n{checked.text}"
    if entry is not None:
        rows = sum(o.rows for o in checked.outcomes[1:])
        entry.notes.append(f"make verify OK: {checked.events:,} events, {rows:,} view rows")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Here rather than in a fixture's teardown: a FAIL of verify is the scenario's FAIL
    # (not an error after a PASS), and a scenario that failed its own checks is reported
    # by them alone.
    result = yield
    check_verified(scenario_lane(item), item.stash.get(_REPORT, None))
    return result


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
