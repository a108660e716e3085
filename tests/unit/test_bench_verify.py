"""The bench's verify part without the local stack: its sizes, verify's closing line read
back, and the block printed under the table (its own rate, the growth with history)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import add_ratios, summarize
from bench import verify as lake_verify
from lambda_common.errors import BenchmarkError


def test_sizes_are_ascending_distinct_and_above_zero() -> None:
    assert lake_verify.sizes("400_000, 100000,100000") == [100_000, 400_000]
    for bad in ("", "0,100", "lots"):
        with pytest.raises(BenchmarkError, match="BENCH_VERIFY_EVENTS"):
            lake_verify.sizes(bad)


def test_the_closing_line_gives_events_and_rate_and_only_an_ok_one() -> None:
    out = (
        "OK   load_ledger: 3 objects\nverify: OK, 12,345 events checked in 0.6s (20,002 events/s)\n"
    )
    assert lake_verify.closing(out) == (12_345, 20_002)
    failed = out.replace("OK, 12", "FAIL (1 of 4 checks), 12")
    with pytest.raises(BenchmarkError, match="did not say OK"):
        lake_verify.closing(failed)


def _rows(
    events: int, verify_s: list[float], inside: list[float], floor_s: list[float]
) -> list[dict[str, Any]]:
    measured = {"events": events, "verify_s": verify_s, "inside": inside, "floor_s": floor_s}
    ours = summarize(
        lake_verify.BENCHMARK, "make verify", events, lake_verify.rates(measured, "verify_s")
    )
    ours |= {"inside_median": inside[1], "inside_min": inside[0], "inside_max": inside[2]}
    bare = summarize(lake_verify.BENCHMARK, "floor", events, lake_verify.rates(measured))
    return add_ratios([ours, bare], bare)


def test_the_lines_give_verify_s_own_rate_and_its_growth() -> None:
    rows = _rows(100_000, [4.0, 5.0, 6.0], [40_000, 50_000, 60_000], [2.0, 2.5, 3.0])
    rows += _rows(400_000, [10.0, 10.0, 12.0], [80_000, 90_000, 95_000], [4.0, 4.0, 5.0])
    assert rows[0]["median"] == 20_000 and rows[0]["ratio"] == pytest.approx(0.5)
    text = "\n".join(lake_verify.lines({"repeats": 3, "part_s": 90.0, "rows": rows}))
    assert "median of 3 runs at each size (the part took 1.5 min)" in text
    assert "  100,000 events: 20,000 events/s as a process, 50,000 (40,000-60,000)" in text
    assert "400,000 events: 40,000 events/s" in text
    assert "4.0x the events took 2.0x the time as a process, 2.2x by its own closing line" in text
