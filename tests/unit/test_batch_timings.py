"""A batch cycle's phase timings: the ``batch phases:`` line it logs, and the phases
landing reports for a chunk (timed per batch of messages, never per message)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batch_layer.landing import Message, encode_chunk
from batch_layer.timings import Phases
from bench import phases

NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)


def test_a_cycles_phases_line_is_read_back_by_the_bench() -> None:
    timings = Phases()
    timings.add("gzip", 0.5)
    timings.add("kafka read", 1.25)
    timings.merge({"gzip": 0.25, "views": 2.0, "something new": 0.1})
    with timings.timed("plan"):
        pass
    line = timings.line(1000)
    # In the cycle's order, unknown phases after them.
    assert line.startswith("batch phases: 1000 events; plan 0.000s, kafka read 1.250s, ")
    assert line.endswith("gzip 0.750s, views 2.000s, something new 0.100s")
    log = f"INFO x: landed 3 objects\nINFO batch_layer.cycle: {line}\nINFO x: batch cycle: ..."
    events, seconds = phases.batch_phases(log)
    assert events == 1000
    assert list(seconds) == ["plan", "kafka read", "gzip", "views", "something new"]
    assert seconds["gzip"] == 0.75 and seconds["something new"] == 0.1
    with pytest.raises(ValueError, match="no 'batch phases:' line"):
        phases.batch_phases("INFO batch cycle: 0 events landed")


def test_encode_chunk_reports_its_phases() -> None:
    value = (
        b'{"tweet_id":"1","created_at":"2026-11-20T10:00:00Z","user_id":"2",'
        b'"followers_count":1,"favorite_count":0,"retweet_count":0,"location":"Paris"}'
    )
    messages = [Message(n, 1, value) for n in range(2500)] + [Message(2500, 1, b"{oops")]
    chunk = encode_chunk("tweets", 0, 0, 2500, messages, NOW)
    assert list(chunk.phases) == ["kafka read", "decode+normalise+encode", "gzip", "csv"]
    assert all(seconds >= 0 for seconds in chunk.phases.values())
    assert chunk.phases["gzip"] > 0 and chunk.phases["csv"] == 0.0  # no rows file
