"""The demo's pure logic: has the speed job read the topic up to its end? Its dashboard,
skipped with a note when its port is taken; and its last step, make verify's lines shown,
a FAIL failing the demo."""

from __future__ import annotations

import argparse
import io
import json
import socket
from pathlib import Path

import pytest

from lambda_common.settings import load_settings
from lambda_demo.checkpoint import speed_committed_up_to
from lambda_demo.demo import Demo
from lambda_demo.jobs import DemoError, Job


def _batch(checkpoint: Path, batch_id: int, offsets: dict[str, int], committed: bool) -> None:
    # Spark's offset log: a version line, a metadata line, then one JSON line per source.
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(parents=True, exist_ok=True)
    metadata = {"batchWatermarkMs": 0, "batchTimestampMs": 1}
    lines = ["v1", json.dumps(metadata), json.dumps({"tweets": offsets})]
    (checkpoint / "offsets" / str(batch_id)).write_text("\n".join(lines))
    if committed:
        (checkpoint / "commits" / str(batch_id)).write_text("v1\n{}")


def test_caught_up_only_once_a_committed_batch_reaches_every_end(tmp_path: Path) -> None:
    ends = {0: 10, 1: 5}
    assert not speed_committed_up_to(tmp_path, "tweets", ends)  # no checkpoint yet
    _batch(tmp_path, 0, {"0": 10, "1": 3}, committed=True)
    assert not speed_committed_up_to(tmp_path, "tweets", ends)  # partition 1 behind
    _batch(tmp_path, 1, {"0": 10, "1": 5}, committed=False)
    assert not speed_committed_up_to(tmp_path, "tweets", ends)  # read, not committed
    _batch(tmp_path, 1, {"0": 10, "1": 5}, committed=True)
    assert speed_committed_up_to(tmp_path, "tweets", ends)
    assert not speed_committed_up_to(tmp_path, "other-topic", ends)


def test_the_dashboard_is_skipped_with_a_note_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = load_settings(dashboard_port=taken.getsockname()[1])
        out = io.StringIO()
        demo = Demo(settings, argparse.Namespace(log_dir=tmp_path), out=out)
        demo._start_dashboard()
    assert demo.jobs == []
    assert "no dashboard: invalid setting DASHBOARD_PORT: cannot listen on" in out.getvalue()


VERIFY_OK = (
    "OK   load_ledger: 3 objects, 300 events and 0 rejects as counted in S3\n"
    "OK   locations (batch_view): 248 rows and 270 tweets match\n"
    "verify: OK, 300 events checked in 0.6s (484 events/s)\n"
)


def _verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, out: str, printed: io.StringIO
) -> list[list[str]]:
    """Run the demo's verify step with ``python -m batch_layer.lake verify`` answering
    ``code`` and ``out``, the demo printing to ``printed``: the argv it ran."""
    ran: list[list[str]] = []

    def capture(job: Job, timeout_s: float) -> tuple[int, str]:
        ran.append(job.argv)
        return code, out

    monkeypatch.setattr(Job, "capture", capture)
    demo = Demo(load_settings(), argparse.Namespace(log_dir=tmp_path), out=printed)
    try:
        demo.verify()
    finally:
        demo.reader.close()
    return ran


def test_the_demo_ends_with_make_verify_s_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed = io.StringIO()
    ran = _verified(tmp_path, monkeypatch, 0, VERIFY_OK, printed)
    assert ran == [["-m", "batch_layer.lake", "verify"]]
    assert printed.getvalue().startswith("\n==> make verify: every batch view recomputed")
    assert printed.getvalue().endswith(VERIFY_OK)


def test_a_verify_fail_fails_the_demo_after_its_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = VERIFY_OK.replace("OK   locations", "FAIL locations")
    printed = io.StringIO()
    with pytest.raises(DemoError, match="make verify found a difference"):
        _verified(tmp_path, monkeypatch, 1, failed, printed)
    assert printed.getvalue().endswith(failed)  # the FAIL line is shown first
    with pytest.raises(DemoError, match=r"verify failed \(exit 2\)"):
        _verified(tmp_path, monkeypatch, 2, "", io.StringIO())
