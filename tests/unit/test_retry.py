"""The project's one back-off rule (``lambda_common.retry``): the waits it gives, how a
stop event cuts them short, and ``retry_call``'s ends (attempts, deadline, stop)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from lambda_common import retry
from lambda_common.errors import ServiceUnavailable, TransientError
from lambda_common.retry import Backoff, pause, retry_call

pytestmark = pytest.mark.unit


def test_the_wait_doubles_from_the_first_up_to_the_cap() -> None:
    rule = Backoff(first_s=5.0, cap_s=60.0)
    assert [rule.delay(n) for n in range(1, 8)] == [5, 10, 20, 40, 60, 60, 60]


def test_days_of_failures_neither_overflow_nor_pass_the_cap() -> None:
    rule = Backoff(first_s=1.0, cap_s=30.0)
    assert rule.delay(10_000) == 30.0


def test_jitter_only_shortens_a_wait_by_at_most_its_fraction() -> None:
    rule = Backoff(first_s=4.0, cap_s=100.0, jitter=0.25)
    assert rule.delay(1, rand=lambda: 0.0) == 4.0
    assert rule.delay(1, rand=lambda: 1.0) == 3.0
    assert rule.delay(2, rand=lambda: 0.5) == 7.0
    assert all(3.0 <= rule.delay(1) <= 4.0 for _ in range(200))


@pytest.mark.parametrize(
    "bad",
    [
        {"first_s": 0.0, "cap_s": 1.0},
        {"first_s": 2.0, "cap_s": 1.0},
        {"first_s": 1.0, "cap_s": 2.0, "jitter": 1.0},
        {"first_s": 1.0, "cap_s": 2.0, "jitter": -0.1},
    ],
)
def test_a_rule_that_makes_no_sense_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="back-off"):
        Backoff(**bad)


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="counts from 1"):
        Backoff(first_s=1.0, cap_s=2.0).delay(0)


def test_pause_sleeps_on_the_injected_sleep_or_time_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    assert pause(2.0, sleep=slept.append) is False
    monkeypatch.setattr(retry.time, "sleep", slept.append)
    assert pause(3.0) is False
    assert slept == [2.0, 3.0]


def test_a_set_stop_event_cuts_the_wait_short_and_says_so() -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    assert pause(60.0, stop) is True
    assert time.monotonic() - started < 1.0
    assert pause(0.01, threading.Event()) is False


class Flaky:
    """Raises ``error`` on its first ``failures`` calls, then returns the call count."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or ServiceUnavailable("warehouse at x is unreachable")

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.calls


RULE = Backoff(first_s=1.0, cap_s=4.0)


def test_retry_call_runs_until_success_waiting_the_rules_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    slept: list[float] = []
    action = Flaky(4)
    with caplog.at_level(logging.WARNING, logger="lambda_common.retry"):
        result = retry_call(
            action, retry_on=ServiceUnavailable, backoff=RULE, what="S3", sleep=slept.append
        )
    assert (result, slept) == (5, [1.0, 2.0, 4.0, 4.0])
    assert caplog.messages[0] == "S3: warehouse at x is unreachable; retrying in 1.0s"


def test_retry_call_gives_up_after_the_attempts() -> None:
    slept: list[float] = []
    action = Flaky(10, TransientError("aborted"))
    with pytest.raises(TransientError, match="aborted"):
        retry_call(
            action,
            retry_on=TransientError,
            backoff=RULE,
            what="publish",
            attempts=3,
            sleep=slept.append,
        )
    assert (action.calls, slept) == (3, [1.0, 2.0])


def test_retry_call_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(ServiceUnavailable):
        retry_call(
            Flaky(100),
            retry_on=ServiceUnavailable,
            backoff=RULE,
            what="Kafka",
            deadline=110.0,
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert slept == [1.0, 2.0, 4.0]  # 107 + 4 > 110: no fourth wait


def test_retry_call_stops_when_asked_even_mid_wait() -> None:
    stop = threading.Event()
    action = Flaky(100)

    def sleep(seconds: float) -> None:
        if action.calls == 2:
            stop.set()  # e.g. SIGTERM during the second wait

    with pytest.raises(ServiceUnavailable):
        retry_call(
            action, retry_on=ServiceUnavailable, backoff=RULE, what="x", stop=stop, sleep=sleep
        )
    assert action.calls == 2


def test_retry_call_does_not_retry_other_errors() -> None:
    action = Flaky(1, ValueError("a bug"))
    with pytest.raises(ValueError, match="a bug"):
        retry_call(action, retry_on=ServiceUnavailable, backoff=RULE, what="x", sleep=print)
    assert action.calls == 1


def test_a_subclass_is_retried_as_its_base() -> None:
    slept: list[float] = []
    action = Flaky(2, TransientError("1023"))
    assert (
        retry_call(action, retry_on=ServiceUnavailable, backoff=RULE, what="x", sleep=slept.append)
        == 3
    )
