"""``make batch``'s loop (``batch_layer.schedule.run_forever``) with a fake cycle: every
failure is retried with a growing back-off, a success starts it again, and a stop request
(SIGTERM, or the event) ends the loop promptly, even mid-wait."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from batch_layer import schedule
from batch_layer.cycle import CycleResult
from lambda_common.errors import ServiceUnavailable, TransientError
from lambda_common.retry import Backoff
from lambda_common.settings import Settings, load_settings

pytestmark = pytest.mark.unit

NO_JITTER = Backoff(first_s=5.0, cap_s=60.0)


def _result(seconds: float = 1.0) -> CycleResult:
    return CycleResult(events=10, rejects=0, objects=1, loaded=True, seconds=seconds, horizon=None)


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded; it sets itself after
    ``limit`` waits (the test's way to end the loop)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.limit = limit

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


Outcome = Callable[[], CycleResult]


def _fail(error: Exception) -> Outcome:
    def outcome() -> CycleResult:
        raise error

    return outcome


def _ok(seconds: float = 1.0) -> Outcome:
    return lambda: _result(seconds)


@pytest.fixture
def settings() -> Settings:
    return load_settings(batch_interval=60)


@pytest.fixture
def cycles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Outcome]]:
    """The outcomes the fake run_cycle plays, in order (the last one repeats)."""
    plan: list[Outcome] = []
    calls = [0]

    def fake_run_cycle(settings: Settings, **kwargs: object) -> CycleResult:
        outcome = plan[min(calls[0], len(plan) - 1)]
        calls[0] += 1
        return outcome()

    monkeypatch.setattr(schedule, "run_cycle", fake_run_cycle)
    yield plan


def test_failures_are_retried_with_a_doubling_back_off_capped_at_the_interval(
    settings: Settings, cycles: list[Outcome]
) -> None:
    cycles.append(_fail(ServiceUnavailable("Kafka at localhost:9092 is unreachable")))
    stop = RecordingStop(limit=6)
    schedule.run_forever(settings, stop, backoff=NO_JITTER)
    assert stop.waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]


def test_a_success_starts_the_back_off_again(
    settings: Settings, cycles: list[Outcome], caplog: pytest.LogCaptureFixture
) -> None:
    down = _fail(TransientError("warehouse at x: transaction aborted by a concurrent one"))
    cycles.extend([down, down, down, _ok(seconds=2.5), down, _ok()])
    stop = RecordingStop(limit=6)
    with caplog.at_level(logging.INFO, logger="batch_layer.schedule"):
        schedule.run_forever(settings, stop, backoff=NO_JITTER)
    # Three failures, a cycle (then the rest of the interval), one failure: 5 s again.
    assert stop.waits == [5.0, 10.0, 20.0, 57.5, 5.0, 59.0]
    lines = [r.getMessage() for r in caplog.records]
    assert "batch cycle succeeded after 3 failed attempt(s)" in lines
    assert sum(line.startswith("batch cycle: ") for line in lines) == 2
    assert sum("batch cycle failed (offsets not moved)" in line for line in lines) == 4


def test_the_default_back_off_grows_within_its_jitter(
    settings: Settings, cycles: list[Outcome]
) -> None:
    cycles.append(_fail(ServiceUnavailable("S3 at http://localhost:9000 is unreachable")))
    stop = RecordingStop(limit=5)
    schedule.run_forever(settings, stop)
    for wait, base in zip(stop.waits, [5.0, 10.0, 20.0, 40.0, 60.0], strict=True):
        assert base * (1 - schedule.JITTER) <= wait <= base
    assert stop.waits[0] < stop.waits[1] < stop.waits[2] < stop.waits[3]


def test_an_interval_shorter_than_the_first_back_off_still_waits_5s(
    cycles: list[Outcome],
) -> None:
    cycles.append(_fail(ServiceUnavailable("down")))
    stop = RecordingStop(limit=3)
    schedule.run_forever(load_settings(batch_interval=1), stop)
    assert all(4.0 <= w <= 5.0 for w in stop.waits)


def test_an_unexpected_error_is_logged_with_its_traceback_once_and_retried(
    settings: Settings, cycles: list[Outcome], caplog: pytest.LogCaptureFixture
) -> None:
    bug = _fail(KeyError("partition"))
    other = _fail(ConnectionResetError("reset by peer"))
    cycles.extend([bug, bug, bug, other, _ok()])
    stop = RecordingStop(limit=5)
    with caplog.at_level(logging.INFO, logger="batch_layer.schedule"):
        schedule.run_forever(settings, stop, backoff=NO_JITTER)
    failed = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert [r.exc_info is not None for r in failed] == [True, False, False, True]
    assert "KeyError: 'partition'" in failed[0].getMessage()
    assert "(attempt 2)" in failed[0].getMessage()
    assert stop.waits == [5.0, 10.0, 20.0, 40.0, 59.0]


def test_stop_ends_a_back_off_wait_at_once() -> None:
    settings = load_settings(batch_interval=3600)
    calls: list[float] = []

    def always_down(settings: Settings, **kwargs: object) -> CycleResult:
        calls.append(time.monotonic())
        raise ServiceUnavailable("warehouse at x is unreachable")

    stop = threading.Event()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schedule, "run_cycle", always_down)
        worker = threading.Thread(
            target=schedule.run_forever,
            args=(settings, stop),
            kwargs={"backoff": Backoff(first_s=600.0, cap_s=3600.0)},
        )
        worker.start()
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        stop.set()
        worker.join(timeout=5)
    assert not worker.is_alive()
    assert time.monotonic() - started < 1.0
    assert len(calls) == 1  # no cycle after the stop


def test_sigterm_during_a_cycle_lets_it_finish_then_ends_the_loop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycles = 0

    def cycle_then_signal(settings: Settings, **kwargs: object) -> CycleResult:
        nonlocal cycles
        cycles += 1
        os.kill(os.getpid(), signal.SIGTERM)
        return _result()

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(schedule, "run_cycle", cycle_then_signal)
    schedule.run_forever(settings)  # returns: the CLI then exits 0
    assert cycles == 1
    assert signal.getsignal(signal.SIGTERM) is before  # the handlers are put back
