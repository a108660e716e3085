"""``make demo`` end to end in a private lane: it runs to its end, its printout shows rows
from both layers, it leaves ``serving_view`` exact, and ``make status`` is all OK after it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from .helpers import Lane, expected_view, run_module, view_rows


def test_demo_shows_both_layers_and_leaves_an_exact_view(lane: Lane, tmp_path: Path) -> None:
    env = {
        **lane.env(),
        "SPEED_CHECKPOINT": str(tmp_path / "checkpoint"),
        "SPEED_TRIGGER": "1s",
    }
    demo = run_module(
        "serving_layer",
        "demo",
        "--duration", "20s",
        "--rate", "40",
        "--batch-interval", "5s",
        "--refresh", "5s",
        "--log-dir", str(tmp_path),
        env=env,
        timeout=900,
    )  # fmt: skip
    out = demo.stdout
    assert demo.returncode == 0, out[-4000:] + demo.stderr[-4000:]
    assert "backfilling" in out and "final serving view" in out, out[-4000:]
    # The refreshed tables name the layer of each row; both layers serve rows.
    assert re.search(r"^\s*batch\s+\d{4}-\d\d-\d\d \d\d:\d\d", out, re.MULTILINE), out[-4000:]
    assert re.search(r"^\s*speed\s+\d{4}-\d\d-\d\d \d\d:\d\d", out, re.MULTILINE), out[-4000:]
    assert out.count("--- ") >= 3, out[-4000:]  # several refreshes, then the final one
    assert "make status" in out  # it says how to go on

    # The demo stopped producing, ran a last batch cycle and let the speed layer catch
    # up: the contract's exactness guarantee holds.
    assert view_rows(lane.settings, "serving_view") == expected_view(
        lane.settings, datetime.now(UTC), lambda hour: True
    )
    status = run_module("serving_layer", "status", env=env, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    levels = [line.split()[0] for line in status.stdout.splitlines() if line.strip()]
    assert "FAIL" not in levels and "WARN" not in levels, status.stdout
