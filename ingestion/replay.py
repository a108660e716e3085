"""Replay of a JSON-lines file: contract events, or raw X API v2 tweet objects. Pure logic.

Each line is one JSON object. Contract events are checked exactly as the pipeline would
check them (``validate_event``); X objects are mapped like the live source. A bad line is
reported with its line number and skipped, never fatal. ``source`` of replayed events
becomes ``replay``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from ingestion.xapi import XMappingError, looks_like_x_payload, map_payload
from lambda_common.contract import Event, EventError, validate_event


@dataclass(frozen=True)
class BadLine:
    """A line that could not be replayed, and why."""

    line_number: int
    reason: str


def parse_lines(
    lines: Iterable[str | bytes], *, now: datetime | None = None
) -> Iterator[Event | BadLine]:
    """Events (``source='replay'``) and ``BadLine``s, in file order; blank lines skipped."""
    clock = now or datetime.now(UTC)
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield BadLine(number, "not valid UTF-8")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:
            yield BadLine(number, f"not valid JSON: {str(e)[:80]}")
            continue
        if not isinstance(obj, dict):
            yield BadLine(number, "not a JSON object")
            continue
        try:
            if looks_like_x_payload(obj):
                events = map_payload(obj)
            else:
                events = [validate_event(obj, now=clock)]
        except EventError as e:
            yield BadLine(number, e.reason)
            continue
        except XMappingError as e:
            yield BadLine(number, str(e))
            continue
        for event in events:
            yield dataclasses.replace(event, source="replay")
