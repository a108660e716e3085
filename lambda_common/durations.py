"""Durations written for people, in their largest unit and the next: ``2d03h``,
``1h05m``, ``3m05s``, ``45s``.

One spelling for the batch layer's progress lines (``make recompute``, ``make verify``)
and the ages the health checks report (``make status``, the dashboard).
"""

from __future__ import annotations

from itertools import pairwise

_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def two_units(seconds: int, *, days: bool = True) -> str:
    """Whole ``seconds`` (>= 0) in the largest unit they fill and the next, zero-padded:
    ``2d03h``, ``1h05m``, ``3m05s``, or ``45s`` under a minute. Without ``days`` hours
    are the largest unit (``25h00m``)."""
    units = _UNITS if days else _UNITS[1:]
    for (unit, size), (next_unit, next_size) in pairwise(units):
        if seconds >= size:
            count, rest = divmod(seconds, size)
            return f"{count}{unit}{rest // next_size:02d}{next_unit}"
    return f"{seconds}s"
