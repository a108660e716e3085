"""The progress arithmetic of ``make recompute``: rate, time left, durations, and when a
line is due (a fake clock, no sleeping)."""

from __future__ import annotations

import pytest

from batch_layer.progress import Progress, duration, rate, summary, time_left


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_is_per_second_and_zero_before_any_time_passed() -> None:
    assert rate(1000, 4.0) == 250.0
    assert rate(1000, 0.0) == 0.0
    assert rate(0, 3.0) == 0.0


def test_time_left_goes_at_the_pace_of_what_is_done() -> None:
    assert time_left(10.0, 1, 4) == pytest.approx(30.0)
    assert time_left(30.0, 3, 4) == pytest.approx(10.0)
    assert time_left(12.0, 4, 4) == 0.0
    assert time_left(12.0, 0, 4) is None  # nothing done: no pace to judge by
    assert time_left(0.0, 2, 4) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "?"),
        (0.0, "0.0s"),
        (-1.0, "0.0s"),
        (4.46, "4.5s"),
        (9.94, "9.9s"),
        (9.96, "10s"),
        (45.4, "45s"),
        (59.6, "1m00s"),
        (185.0, "3m05s"),
        (3599.0, "59m59s"),
        (7620.0, "2h07m"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_a_line_is_due_every_interval_and_never_for_the_last_object() -> None:
    clock = Clock()
    progress = Progress(4, every_s=5.0, clock=clock)
    clock.now += 2.0
    assert progress.advance(1000) is None  # 2 s since the start: not yet
    clock.now += 3.0
    line = progress.advance(3000)
    assert line == "recompute: 2/4 objects, 4,000 events, 800 events/s, about 5.0s left"
    clock.now += 4.9
    assert progress.advance(10) is None  # 4.9 s since the last line
    clock.now += 60.0
    assert progress.advance(10) is None  # the last object: the summary says the rest
    assert (progress.objects, progress.events) == (4, 4020)


def test_every_object_gets_a_line_with_a_zero_interval() -> None:
    clock = Clock()
    progress = Progress(3, every_s=0.0, clock=clock)
    lines = []
    for _ in range(3):
        clock.now += 1.0
        lines.append(progress.advance(100))
    assert lines[0] == "recompute: 1/3 objects, 100 events, 100 events/s, about 2.0s left"
    assert lines[1] == "recompute: 2/3 objects, 200 events, 100 events/s, about 1.0s left"
    assert lines[2] is None


def test_a_phase_without_events_leaves_them_out() -> None:
    clock = Clock()
    progress = Progress(
        1200, label="recompute: checked for COPY", every_s=5.0, counts_events=False, clock=clock
    )
    for _ in range(300):
        progress.advance()
    clock.now += 150.0
    assert progress.advance() == "recompute: checked for COPY: 301/1,200 objects, about 7m28s left"


def test_the_summary_names_objects_events_rejects_and_the_rate() -> None:
    assert summary("recompute", 40, 4_000_000, 12, 80.0) == (
        "recompute: loaded 40 objects, 4,000,000 events and 12 rejects in 1m20s (50,000 events/s)"
    )
    assert summary("recompute", 0, 0, 0, 0.0) == (
        "recompute: loaded 0 objects, 0 events and 0 rejects in 0.0s (0 events/s)"
    )
