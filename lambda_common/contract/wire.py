"""The event on the wire in C: a Kafka message's key and value built from msgspec Structs.

A producer's message is ``Event.tweet_id`` as the key and :meth:`Event.to_json_bytes` as
the value. Here the same bytes come without the Event: a replayed line is decoded straight
into the contract's Struct, whose fields stand in the wire's order, checked by the
contract's own fast path (:func:`lambda_common.contract.plain_struct`, every rule of
:func:`lambda_common.contract.plain_event`), put in the wire's form (``created_at`` as
:meth:`Event.to_dict` writes it, ``source`` replaced) and encoded by msgspec in C.

Nothing here states a rule of the contract: a line the contract's fast path declines gets
None, and the caller takes today's way (an Event, with its reasons). That the bytes are
those of the Event's own is proven line for line by tests/unit/test_wire_equivalence.py.
Without msgspec (a bare Python) every call here says None: the Event's way then serves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from lambda_common.contract.event import UTC_SHAPE, format_created_at
from lambda_common.contract.fast import PLAIN_DECODER, plain_struct

try:
    import msgspec
except ImportError:  # the contract's own fallback: no Struct, no short cut
    msgspec = None  # type: ignore[assignment]

__all__ = [
    "WireMessage",
    "encode_struct",
    "event_message",
    "wire_form",
    "wire_message",
    "wire_time",
]

# One encoder, made once: the contract's encode_json is this very encoder on a dict.
_ENCODE: Any = msgspec.json.Encoder().encode if msgspec is not None else None
encode_struct: Callable[[Any], bytes] = _ENCODE
"""The JSON of a Struct (one in the wire's form, see :func:`wire_form`, or one holding
it), by the encoder itself: no call of ours in between."""
# The contract's Struct (None without msgspec): its fields in the wire's order.
_STRUCT: Any = PLAIN_DECODER.type if PLAIN_DECODER is not None else None
# len("2026-11-21T10:15:30.123Z"): the one form of UTC_SHAPE that to_dict writes as read.
_MILLIS_CHARS = 24
# What building or encoding a Struct of fields no Event would hold can raise (a naive or
# odd created_at, a surrogate, a value of no JSON type): the Event then says why.
_UNWRITABLE = (TypeError, ValueError, OverflowError, AttributeError)


class WireMessage(NamedTuple):
    """A Kafka message ready to send: the key (``tweet_id``) and the value (the event's
    JSON), the bytes an Event's way would send for the same event."""

    key: bytes
    value: bytes


# WireMessage's own constructor is written in Python; the tuple's, in C, makes the same.
_new_message = tuple.__new__


def wire_time(text: str, when: datetime) -> str:
    """``created_at`` as :meth:`Event.to_dict` writes the time ``when`` read from ``text``:
    ``text`` itself when it is in that form already (milliseconds and ``Z``, the form our
    producers write: the contract's fast read takes it as it is, and writing gives it back
    digit for digit; the test proves it), else formatted from ``when``."""
    if len(text) == _MILLIS_CHARS and UTC_SHAPE.fullmatch(text):
        return text
    return format_created_at(when)


def wire_form(plain: Any, when: datetime, source: str | None = None) -> Any:
    """``plain`` (a checked Struct, changed in place) in the form :meth:`Event.to_dict`
    writes: ``created_at`` from ``when`` (:func:`wire_time`); no empty ``hashtags`` (the
    Event keeps none: ``[]`` and absent are one); ``source`` replaced when given."""
    plain.created_at = wire_time(plain.created_at, when)
    if not plain.hashtags:
        plain.hashtags = None  # the default: omitted, as to_dict omits an empty array
    if source is not None:
        plain.source = source
    return plain


def wire_message(value: bytes, *, now: datetime, source: str | None = None) -> WireMessage | None:
    """The message ``plain_event(value, now=now, source=source)``'s Event would be sent as,
    built without it; None exactly where ``plain_event`` gives None (the caller then takes
    its full way, which names the reason)."""
    checked = plain_struct(value, now=now, source=source)
    if checked is None:
        return None
    plain = wire_form(*checked, source)
    return _new_message(WireMessage, (plain.tweet_id.encode(), encode_struct(plain)))


def event_message(
    *,
    tweet_id: str,
    created_at: datetime,
    user_id: str,
    followers_count: int,
    favorite_count: int,
    retweet_count: int,
    user_name: str | None = None,
    location: str | None = None,
    lang: str | None = None,
    text: str | None = None,
    hashtags: tuple[str, ...] = (),
    source: str | None = None,
) -> WireMessage | None:
    """The message ``Event(**fields)`` would be sent as, built as a Struct and encoded in C,
    then checked on its very bytes by the contract's fast path: every rule the Event checks
    (the clock's is not one). None where the contract declines the bytes or they cannot
    even be written: the caller then makes the Event, which raises its own error."""
    if _STRUCT is None:
        return None
    try:
        if created_at.utcoffset() is None:
            return None  # the Event refuses a naive time; astimezone would guess one
        plain = _STRUCT(
            tweet_id=tweet_id,
            created_at=format_created_at(created_at.astimezone(UTC)),
            user_id=user_id,
            user_name=user_name,
            followers_count=followers_count,
            favorite_count=favorite_count,
            retweet_count=retweet_count,
            location=location,
            lang=lang,
            text=text,
            hashtags=hashtags or None,
            source=source,
        )
        value = encode_struct(plain)
    except _UNWRITABLE:
        return None
    if plain_struct(value, now=None) is None:
        return None
    return _new_message(WireMessage, (tweet_id.encode(), value))
