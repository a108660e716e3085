"""The full path of :func:`parse_event`: a message's bytes to an :class:`Event` or a
:class:`Rejection` naming the reason, whatever the bytes. The common case, a plainly valid
event, takes the fast path (:mod:`.fast`) first."""

from __future__ import annotations

import json
from datetime import datetime

from lambda_common.contract.depth import TOO_DEEP, too_deep
from lambda_common.contract.event import (
    COUNT_LIMIT,
    ECHO_CHARS,
    MAX_COUNT_DIGITS,
    Event,
    EventError,
    Rejection,
    reader_clock,
    validate_event,
)
from lambda_common.contract.fast import plain_event_or_none


class _NonStandardConstant(ValueError):
    """NaN, Infinity or -Infinity: Python's json accepts them, JSON does not."""


def _reject_constant(name: str) -> object:
    raise _NonStandardConstant(f"{name} is not allowed")


def _parse_int(digits: str) -> int:
    # Python refuses int() of more than 4300 digits (ValueError), and big conversions are
    # slow. Any JSON integer over 19 digits is out of a count's range anyway, so stand in
    # a value that is just as out of range; in an unknown field it is simply ignored.
    if len(digits.lstrip("-")) > MAX_COUNT_DIGITS:
        return -COUNT_LIMIT if digits.startswith("-") else COUNT_LIMIT
    return int(digits)


def parse_event(value: bytes | None, *, now: datetime | None = None) -> Event | Rejection:
    """Decide whether a raw Kafka message value is a valid event.

    Returns the :class:`Event`, or a :class:`Rejection` with a one-line reason when the
    value is absent or empty, not strict UTF-8, not JSON (including NaN/Infinity and
    arrays and objects nested deeper than :data:`MAX_NESTING`), not an object, or breaks
    a rule of
    :func:`validate_event`. Never raises for any input value: a bad message must not stop
    the pipeline. (It does raise ``ValueError`` for a naive ``now``: that is a caller bug.)
    """
    now = reader_clock(now)
    if value is None:
        return Rejection("value is null (no message body)")
    if not isinstance(value, bytes | bytearray | memoryview):
        return Rejection(f"value is not bytes (got {type(value).__name__})")
    raw = bytes(value)
    if not raw:
        return Rejection("value is empty")
    try:
        text = raw.decode("utf-8")  # strict: overlong forms and encoded surrogates fail
    except UnicodeDecodeError:
        return Rejection("value is not valid UTF-8")
    if too_deep(raw):  # before both paths, so that both judge it alike
        return Rejection(TOO_DEEP)
    # Fast path for the common case, a plainly valid event, decoded and type-checked in
    # C; anything else (or anything it is unsure of) goes the full way, through json and
    # validate_event, which names the reason.
    event = plain_event_or_none(raw, now)
    if event is not None:
        return event
    try:
        obj = _decode_json(text)
    except RecursionError:  # within the limit, but called with the stack nearly used up
        return Rejection(TOO_DEEP)
    except json.JSONDecodeError as e:
        return Rejection(f"value is not valid JSON: {e.msg} at char {e.pos}")
    except ValueError as e:  # _NonStandardConstant, and anything else json refuses
        return Rejection(f"value is not valid JSON: {str(e)[:ECHO_CHARS]}")
    try:
        return validate_event(obj, now=now)
    except EventError as e:
        return Rejection(e.reason)


# Decoders made once: json.loads with keyword arguments builds a new decoder (and
# scanner) per call, which costs about as much as decoding a small event.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_parse_int)
# Below this many characters the biggest integer conversions stay cheap, so
# _parse_int (a Python call per integer) is not needed: an integer of 20+ digits then
# decodes to its true value instead of +-2**63, and every rule treats both alike (out
# of a count's range; not a string elsewhere).
_SHORT_TEXT = 4000
_SHORT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _decode_json(text: str) -> object:
    """``json.loads(text, parse_constant=..., parse_int=...)``: same outcome or exception."""
    if text.startswith("\ufeff"):
        # json.loads refuses a leading BOM before decoding; let it word the error.
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    if len(text) < _SHORT_TEXT:
        try:
            return _SHORT_DECODER.decode(text)
        except json.JSONDecodeError:
            raise  # a syntax error: the same with either decoder
        except ValueError:
            # NaN, or an integer over int()'s digit limit (lowered from 4300 by
            # PYTHONINTMAXSTRDIGITS, say): the hooked decoder decides, as it always did.
            pass
    return _DECODER.decode(text)
