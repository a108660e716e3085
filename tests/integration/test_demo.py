"""``make demo`` end to end in a private lane: it runs to its end, its printout shows rows
from both layers, its dashboard serves both layers meeting at the horizon while it runs,
it leaves ``serving_view`` exact, it ends with ``make verify``'s lines, all OK, and
``make status`` is all OK after it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.compose_stack import free_port
from tests.verify_output import assert_verified

from .helpers import REPO, Lane, expected_view, run_module, view_rows
from .test_dashboard import browse


def _layers_seen(
    base: str, done: threading.Event, seen: list[dict[str, Any]], folder: Path
) -> None:
    """Poll the demo's dashboard until one document shows both layers and a horizon, then
    look at the page in headless Chromium (its screenshot: DASHBOARD_SCREENSHOT)."""
    while not done.is_set():
        try:
            url = f"{base}/api/views/locations/hours?hours=96"
            with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - http://127.0.0.1
                doc = json.load(r)
            if doc["horizon"] and {row["layer"] for row in doc["rows"]} == {"batch", "speed"}:
                seen.append(doc)
                try:
                    seen.append(browse(base, folder, keep=True))
                except Exception as e:  # reported by the test's assertion, not lost here
                    seen.append({"error": repr(e)})
                return
        except OSError:
            pass  # not started yet, or stopped
        done.wait(1.0)


def test_demo_shows_both_layers_and_leaves_an_exact_view(lane: Lane, tmp_path: Path) -> None:
    env = {
        **lane.env(),
        "SPEED_CHECKPOINT": str(tmp_path / "checkpoint"),
        "SPEED_TRIGGER": "1s",
    }
    port = free_port()
    env["DASHBOARD_PORT"] = str(port)
    argv = [
        "--duration", "20s",
        "--rate", "40",
        "--batch-interval", "5s",
        "--refresh", "5s",
        "--log-dir", str(tmp_path),
    ]  # fmt: skip
    seen: list[dict[str, Any]] = []
    done = threading.Event()
    poller = threading.Thread(
        target=_layers_seen,
        args=(f"http://127.0.0.1:{port}", done, seen, tmp_path),
        daemon=True,
    )
    poller.start()
    demo = subprocess.run(
        [sys.executable, "-m", "lambda_demo", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **env},
        check=False,
    )
    done.set()
    poller.join(timeout=15)
    out = demo.stdout
    assert demo.returncode == 0, out[-4000:] + demo.stderr[-4000:]
    assert "backfilling" in out and "final serving view" in out, out[-4000:]
    # The refreshed tables name the layer of each row; both layers serve rows.
    assert re.search(r"^\s*batch\s+\d{4}-\d\d-\d\d \d\d:\d\d", out, re.MULTILINE), out[-4000:]
    assert re.search(r"^\s*speed\s+\d{4}-\d\d-\d\d \d\d:\d\d", out, re.MULTILINE), out[-4000:]
    assert out.count("--- ") >= 3, out[-4000:]  # several refreshes, then the final one
    assert "make status" in out  # it says how to go on
    # It ends with make verify's lines: the ledger and every view checked against S3, OK.
    assert_verified(out[out.rindex("==> make verify") :].split("\n", 1)[1], lane.settings)
    # It started the dashboard, said where, and the dashboard showed both layers meeting
    # at the horizon while the demo ran.
    assert f"dashboard at http://127.0.0.1:{port}/" in out, out[-4000:]
    assert seen, "the dashboard never showed both layers with a horizon"
    assert len(seen) == 2, "the page was not looked at"
    page = seen[1]
    assert page["horizon_labels"] >= 3 and page["bar_traces"] >= 6, page
    assert page["refreshed"] >= 2 and not page["banner"], page
    horizon = seen[0]["horizon"]
    assert all((row["hour"] < horizon) == (row["layer"] == "batch") for row in seen[0]["rows"])

    # The demo stopped producing, ran a last batch cycle and let the speed layer catch
    # up: the contract's exactness guarantee holds.
    assert view_rows(lane.settings, "serving_view") == expected_view(
        lane.settings, datetime.now(UTC), lambda hour: True
    )
    status = run_module("serving_layer", "status", env=env, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    levels = [line.split()[0] for line in status.stdout.splitlines() if line.strip()]
    assert "FAIL" not in levels and "WARN" not in levels, status.stdout
