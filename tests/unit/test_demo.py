"""The demo's pure logic: has the speed job read the topic up to its end? And its
dashboard, skipped with a note when its port is taken."""

from __future__ import annotations

import argparse
import io
import json
import socket
from pathlib import Path

from lambda_common.settings import load_settings
from lambda_demo.checkpoint import speed_committed_up_to
from lambda_demo.demo import Demo


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
