"""The demo's one piece of pure logic: has the speed job read the topic up to its end?"""

from __future__ import annotations

import json
from pathlib import Path

from lambda_demo.demo import speed_committed_up_to


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
