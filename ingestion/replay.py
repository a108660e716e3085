"""Replay of a JSON-lines file: contract events, or raw X API v2 tweet objects. Pure logic.

Each line is one JSON object. Contract events are checked exactly as the pipeline would
check them (``validate_event``); X objects are mapped like the live source
(``parse_payload``). A bad line of any shape is reported with its line number and
skipped, never fatal. ``source`` of replayed events becomes ``replay``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ingestion.jsonline import Undecodable, decode_object
from ingestion.xapi import XReject, looks_like_x_payload, parse_payload
from lambda_common.contract import Event, EventError, plain_event, validate_event
from lambda_common.contract.wire import WireMessage, wire_message

# Lines shorter than this that the contract's fast path accepts are contract events the
# full check below accepts too, as the same Event (an X object has no tweet_id, so it
# never passes). Longer ones go the full way only: json.loads refuses integers of over
# 4,300 digits, which the contract's decoder lets pass in a field it ignores.
_PLAIN_LINE_BYTES = 4000

# What the fast path gives for a line it takes: the Event, or the message it is sent as.
_Fast = TypeVar("_Fast", Event, WireMessage)


@dataclass(frozen=True)
class BadLine:
    """A line that could not be replayed, and why."""

    line_number: int
    reason: str


def parse_lines(
    lines: Iterable[str | bytes], *, now: datetime | None = None
) -> Iterator[Event | BadLine]:
    """Events (``source='replay'``) and ``BadLine``s, in file order; blank lines skipped."""
    return _parse(lines, now, plain_event)


def replay_messages(
    lines: Iterable[str | bytes], *, now: datetime | None = None
) -> Iterator[WireMessage | Event | BadLine]:
    """:func:`parse_lines`, where each Event its fast path gives comes as the message it
    is sent as (:func:`lambda_common.contract.wire.wire_message`), built without the Event: the
    same bytes, in the same order, and every other line exactly as there."""
    return _parse(lines, now, wire_message)


def _parse(
    lines: Iterable[str | bytes], now: datetime | None, fast: Callable[..., _Fast | None]
) -> Iterator[_Fast | Event | BadLine]:
    """The lines' items: what ``fast`` gives for a short line it takes, else the full way's."""
    clock = now or datetime.now(UTC)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if isinstance(raw, bytes) and len(raw) < _PLAIN_LINE_BYTES:
            taken = fast(raw, now=clock, source="replay")
            if taken is not None:
                yield taken
                continue
        obj = decode_object(raw)
        if isinstance(obj, Undecodable):
            yield BadLine(number, obj.reason)
            continue
        events = _events(obj, clock)
        if isinstance(events, str):
            yield BadLine(number, events)
            continue
        for event in events:
            # with_source checks only the new source: dataclasses.replace would run every
            # check of the Event again (a third of the parse), on fields just checked.
            yield event.with_source("replay")


def _events(obj: dict[str, Any], clock: datetime) -> list[Event] | str:
    """The events of one decoded line (an X object or a contract event), or why not."""
    if looks_like_x_payload(obj):
        events = parse_payload(obj)
        return str(events) if isinstance(events, XReject) else events
    try:
        return [validate_event(obj, now=clock)]
    except EventError as e:
        return e.reason
