"""One line of JSON (a replay line, an X stream message) decoded to a JSON object, or why not.

Shared by the replay and the live X stream, so both refuse the same input with the same
reason. Never raises for any input: a bad line must not stop a producer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Longest piece of the decoder's message kept in a reason (a reason is one short line).
_MESSAGE_CHARS = 80


@dataclass(frozen=True, slots=True)
class Undecodable:
    """Why a line is not a JSON object: one short line for the operator."""

    reason: str


def decode_object(raw: bytes | str) -> dict[str, Any] | Undecodable:
    """The JSON object in ``raw`` (strict UTF-8 when bytes), or :class:`Undecodable`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return Undecodable("not valid UTF-8")
    try:
        obj = json.loads(text)
    except RecursionError:
        # Not a ValueError: json raises it for nesting deeper than the interpreter's stack.
        return Undecodable("not valid JSON: nested too deeply")
    except ValueError as e:  # syntax, and integers past int()'s digit limit
        # The messages of json and int() name positions and sizes, never the input.
        return Undecodable(f"not valid JSON: {str(e)[:_MESSAGE_CHARS]}")
    if not isinstance(obj, dict):
        return Undecodable("not a JSON object")
    return obj
