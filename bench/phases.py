"""Where the time went, read from the measured processes' own output.

The producer's summary line (``python -m ingestion``, on stderr) gives its rate of sending
and the split of that time (``per event: source+encode X µs, send Y µs; final flush
Zs``); a batch cycle logs one ``batch phases:`` line (``batch_layer.phases``). The bench
reads them from the very runs it times, so the breakdown is of the measured run, not of
a profiler's.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

_SUMMARY = re.compile(
    r"done: sent (?P<sent>[\d,]+) events in (?P<seconds>[\d.]+)s \((?P<rate>[\d,]+)/s"
    r"(?:, start-up (?P<startup>[\d.]+)s before the first send)?\)"
)
_SPLIT = re.compile(
    r"per event: source\+encode (?P<source_us>[\d.]+) µs, send (?P<send_us>[\d.]+) µs; "
    r"final flush (?P<flush_s>[\d.]+)s"
)
_PHASES = re.compile(r"batch phases: (?P<events>\d+) events; (?P<phases>.*)$", re.MULTILINE)
_PHASE = re.compile(r"(?P<name>[\w+/ -]+?) (?P<seconds>[\d.]+)s")


def producer_summary(stderr: str) -> dict[str, float]:
    """The numbers of ``python -m ingestion``'s summary line in ``stderr``: ``sent``,
    ``seconds`` (of sending), ``rate``, ``startup_s`` and, when the line has them, the
    split (``source_us``, ``send_us`` per event, ``flush_s``). ``ValueError`` if absent."""
    match = _SUMMARY.search(stderr)
    if match is None:
        raise ValueError("no producer summary line (done: sent N events in Xs ...)")
    out = {
        "sent": float(match["sent"].replace(",", "")),
        "seconds": float(match["seconds"]),
        "rate": float(match["rate"].replace(",", "")),
    }
    if match["startup"] is not None:
        out["startup_s"] = float(match["startup"])
    split = _SPLIT.search(stderr, match.end())
    if split is not None:
        out.update({k: float(v) for k, v in split.groupdict().items()})
    return out


def batch_phases(stderr: str) -> tuple[int, dict[str, float]]:
    """The events and each phase's seconds of the last ``batch phases:`` line in
    ``stderr`` (a cycle's log). ``ValueError`` if there is none."""
    found = list(_PHASES.finditer(stderr))
    if not found:
        raise ValueError("no 'batch phases:' line in the cycle's log")
    last = found[-1]
    phases = {m["name"].strip(): float(m["seconds"]) for m in _PHASE.finditer(last["phases"])}
    return int(last["events"]), phases


def median_phases(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each phase's median over ``runs`` (the phases of the first run, in its order)."""
    if not runs:
        return {}
    return {name: statistics.median(r.get(name, 0.0) for r in runs) for name in runs[0]}


def per_event_line(label: str, events: int, phases: dict[str, float]) -> str:
    """``label: phase X µs, ... per event (N events)``: seconds spread over events."""
    per = 1e6 / max(events, 1)
    parts = ", ".join(f"{name} {seconds * per:.1f}" for name, seconds in phases.items())
    return f"{label}, µs per event ({events:,} events): {parts}"


def producer_line(row: dict[str, Any]) -> str | None:
    """One producer row's breakdown line, when its runs reported the split."""
    if "source_us" not in row:
        return None
    return (
        f"  {row['contender']:<36} source+encode {row['source_us']:.1f}, "
        f"send {row['send_us']:.1f} µs per event; final flush {row['flush_s']:.2f}s; "
        f"start-up {row['startup_s']:.2f}s (not in the rate)"
    )
