"""Has the speed job read the topic up to its end? Read from its local Spark checkpoint,
for the demo's last step (the speed layer catching up before it stops)."""

from __future__ import annotations

import json
from pathlib import Path


def speed_committed_up_to(checkpoint: Path, topic: str, ends: dict[int, int]) -> bool:
    """Whether the newest committed micro-batch in a local Spark checkpoint has read every
    partition of ``topic`` up to ``ends`` (offsets of the next message to read)."""
    commits = checkpoint / "commits"
    if not commits.is_dir():
        return False
    done = sorted((int(p.name) for p in commits.iterdir() if p.name.isdigit()), reverse=True)
    if not done:
        return False
    # offsets/N: a version line, a metadata line, then one JSON line per source.
    lines = (checkpoint / "offsets" / str(done[0])).read_text().splitlines()
    for line in lines[2:]:
        try:
            offsets = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(offsets, dict) and topic in offsets:
            read = {int(p): int(o) for p, o in offsets[topic].items()}
            return all(read.get(p, 0) >= end for p, end in ends.items())
    return False
