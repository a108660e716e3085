"""The speed bench's load: ``kcat -P`` sending synthetic events at a steady rate, as a
fleet of producers elsewhere would (the events generated before the clock starts, so the
load costs this machine the broker's work alone, not the generation in Python)."""

from __future__ import annotations

import itertools
import shutil
import subprocess
import threading
import time

from bench.kcat import kcat_producer
from bench.lanes import Lane
from lambda_common.errors import BenchmarkError

# How often the paced load hands kcat its next slice of messages.
PACE_S = 0.05


TEMPLATE_EVENTS = 100_000
"""Synthetic messages generated once per run: every load sends copies of them, each copy
under new tweet ids (see :func:`_copies`)."""

_template: list[tuple[bytes, bytes, int]] = []
_prefixes = itertools.count(1000)


def _copies(count: int) -> tuple[bytes, list[int]]:
    """``count`` messages as ``key<TAB>value`` lines, one blob, and each line's end: the
    template's messages in turn, each pass under tweet ids never sent before in this run
    (the template's id with its first four digits replaced by a new prefix: a copy is a
    new tweet, not a duplicate the job would drop)."""
    if not _template:
        from ingestion.synthetic import SyntheticOptions, SyntheticTweets

        options = SyntheticOptions(seed=99, count=TEMPLATE_EVENTS)
        for m in SyntheticTweets(options).messages():
            at = m.value.index(b'"tweet_id":"' + m.key) + len(b'"tweet_id":"')
            _template.append((m.key, m.value, at))
    out = bytearray()
    ends = []
    prefix = b""
    for i in range(count):
        key, value, at = _template[i % len(_template)]
        if i % len(_template) == 0:
            prefix = str(next(_prefixes)).encode()
        out += prefix + key[4:] + b"\t" + value[:at] + prefix + value[at + 4 :] + b"\n"
        ends.append(len(out))
    return bytes(out), ends


class _Load:
    """``kcat -P`` sending ``rate`` synthetic events a second for ``seconds`` to the
    lane's topic: the messages are made when this is (before the clock starts);
    ``start`` feeds them to kcat's standard input a slice every ``PACE_S``, in a thread;
    ``wait`` until kcat has sent them all."""

    def __init__(self, lane: Lane, rate: int, seconds: int, seed: int = 0) -> None:
        kcat = shutil.which("kcat")
        if kcat is None:
            raise BenchmarkError("kcat not found: make deps installs it")
        self.rate = rate
        self.data, self.ends = _copies(rate * seconds)
        self.argv = kcat_producer(
            kcat, lane.settings.kafka_bootstrap_servers, lane.name, linger_ms=5
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.feeder: threading.Thread | None = None

    def start(self) -> _Load:
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.feeder = threading.Thread(target=self._feed, daemon=True)
        self.feeder.start()
        return self

    def _feed(self) -> None:
        assert self.process is not None and self.process.stdin is not None
        began, sent, total = time.perf_counter(), 0, len(self.ends)
        view = memoryview(self.data)
        with self.process.stdin as pipe:
            while sent < total:
                due = min(total, int((time.perf_counter() - began) * self.rate) + 1)
                if due > sent:
                    pipe.write(view[self.ends[sent - 1] if sent else 0 : self.ends[due - 1]])
                    pipe.flush()
                    sent = due
                time.sleep(PACE_S)

    def wait(self) -> None:
        assert self.process is not None and self.feeder is not None
        self.feeder.join()
        # The feeder closed kcat's standard input: read what it said, then its end.
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        if self.process.wait() != 0:
            raise BenchmarkError(f"kcat -P failed: {err.decode(errors='replace')[-300:]}")
