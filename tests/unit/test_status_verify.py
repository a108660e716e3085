"""``make status``'s ``batch.verify`` line: the topic's last ``make verify`` (OK before any
run, OK with what it compared, FAIL with its first FAIL line until it runs again)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lambda_common.settings import Settings, load_settings
from serving_layer.status import exit_code
from serving_layer.status_checks import evaluate
from serving_layer.status_facts import Check, Level, VerifyFacts
from tests.unit.test_status import NOW, by_name, healthy, with_warehouse

RUN = VerifyFacts(NOW - timedelta(minutes=90), True, 3, 1_234, 5_000, 2.5, "")


@pytest.fixture
def settings() -> Settings:
    return load_settings(allowed_lateness="10m", batch_interval="5m", speed_trigger="1s")


def _line(settings: Settings, run: VerifyFacts | None) -> Check:
    return by_name(evaluate(with_warehouse(healthy(), last_verify=run), settings, NOW))[
        "batch.verify"
    ]


def test_no_run_yet_is_ok(settings: Settings) -> None:
    assert _line(settings, None) == Check(Level.OK, "batch.verify", "no make verify run yet")


def test_an_ok_run_says_when_and_what_it_compared(settings: Settings) -> None:
    assert _line(settings, RUN) == Check(
        Level.OK,
        "batch.verify",
        "2026-11-25 11:00:00 (1h30m ago): 3 views, 1,234 rows and 5,000 events exact in 2.5s",
    )


def test_a_failed_run_fails_make_status_with_its_first_fail_line(settings: Settings) -> None:
    failed = VerifyFacts(
        RUN.finished_at, False, 3, 1_234, 5_000, 2.5, "FAIL locations (batch_view): 1 of 9 rows"
    )
    checks = evaluate(with_warehouse(healthy(), last_verify=failed), settings, NOW)
    assert by_name(checks)["batch.verify"] == Check(
        Level.FAIL,
        "batch.verify",
        "2026-11-25 11:00:00 (1h30m ago): FAIL locations (batch_view): 1 of 9 rows",
    )
    assert exit_code(checks) != 0
