"""The fast path of the contract: a plainly valid event (the common case) decoded and
type-checked in C by msgspec, into a Struct in the wire's field order. Only a sieve: every
message it declines goes the full way (:mod:`.parse`), which names the reason, so which
messages are valid, and every reason, stay the full path's. Without msgspec it declines
everything."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from lambda_common.contract.depth import too_deep
from lambda_common.contract.event import (
    COUNT_LIMIT,
    MAX_USER_ID_CHARS,
    SOURCES,
    TWEET_ID,
    Event,
    EventError,
    check_source,
    checked_event,
    parse_created_at,
    reader_clock,
    too_far_ahead,
)

try:
    import msgspec
except ImportError:  # the standard library alone: the full path decides everything
    msgspec = None  # type: ignore[assignment]

# msgspec's decoder of PlainEvent (None without msgspec).
PLAIN_DECODER: Any = None
if msgspec is not None:
    _Count = Annotated[int, msgspec.Meta(ge=0, le=COUNT_LIMIT - 1)]

    class PlainEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
        """The JSON shape of a plainly valid event, for msgspec to decode and type-check in C.

        Not a second statement of the rules, only a sieve: a message it refuses, or one that
        fails the checks after it (see :func:`_plain_checked`), goes down the full path, which
        decides by :func:`validate_event` and names the reason. Unknown fields are skipped
        (still checked for JSON syntax); duplicate keys keep the last value, as json does; a
        null anywhere but an optional field, a float or a bool for a count, a string too
        long or short, any lone surrogate or non-JSON input: refused. Its fields stand in
        the wire's order (:meth:`Event.to_dict`'s), so that it encodes as the Event would
        (:mod:`lambda_common.contract.wire`); the order changes nothing in what it decodes.
        """

        tweet_id: str
        created_at: str
        user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID_CHARS)]
        user_name: str | None = None
        followers_count: _Count
        favorite_count: _Count
        retweet_count: _Count
        location: str | None = None
        lang: str | None = None
        text: str | None = None
        hashtags: list[str] | None = None
        source: str | None = None

    PLAIN_DECODER = msgspec.json.Decoder(PlainEvent)


def plain_event(
    value: bytes, *, now: datetime | None = None, source: str | None = None
) -> Event | None:
    """:func:`parse_event`'s fast path alone: the Event when ``value`` is a plainly valid
    event (the common case), else None, never raising. None says nothing about why: the
    value may even be valid (a ``\\u`` escape, say), so ask :func:`parse_event` or
    :func:`validate_event`. For a reader with reasons of its own (the replay).

    ``source`` (one of :data:`SOURCES`), when given, replaces the event's own, which must
    still be valid: the same Event as ``plain_event(value).with_source(source)``, built once.
    """
    checked = plain_struct(value, now=reader_clock(now), source=source)
    return None if checked is None else _struct_event(*checked, source)


def plain_struct(
    value: bytes, *, now: datetime | None, source: str | None = None
) -> tuple[Any, datetime] | None:
    """:func:`plain_event`'s checks alone: the decoded Struct (the wire's field order) and
    its ``created_at`` read, or None. ``now`` None skips the clock's rule alone (an Event
    is made without it: a producer's check). The Struct's fields are as received."""
    if source is not None:
        check_source(source)
    try:
        value.decode("utf-8")  # strict, as parse_event: msgspec's own check is its own
    except UnicodeDecodeError:
        return None
    if too_deep(value):
        return None  # parse_event rejects it
    return _plain_checked(value, now)


def plain_event_or_none(raw: bytes, now: datetime) -> Event | None:
    checked = _plain_checked(raw, now)
    return None if checked is None else _struct_event(*checked)


def _plain_checked(raw: bytes, now: datetime | None) -> tuple[Any, datetime] | None:
    """The Struct of ``raw`` (strict UTF-8) and its time when it passes every rule, else
    None, never raising: None sends the message down the full path, which finds the
    reason. So which messages are valid, and every reason, stay exactly as they were."""
    # A \\u escape is the only way to a lone surrogate in valid UTF-8; msgspec refuses
    # those too, but escapes are rare (our producers write raw UTF-8), so leaving them
    # all to the full path costs nothing and needs no trust. (A value without a backslash
    # has no escape: that one-byte search, by find, is the cheapest.)
    if PLAIN_DECODER is None or (raw.find(b"\\") >= 0 and b"\\u" in raw):
        return None
    try:
        plain = PLAIN_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    source = plain.source
    if not TWEET_ID.fullmatch(plain.tweet_id) or (source is not None and source not in SOURCES):
        return None
    try:
        when = parse_created_at(plain.created_at)
    except EventError:
        return None
    if now is not None and too_far_ahead(when, now):
        return None
    return plain, when


def _struct_event(plain: Any, when: datetime, new_source: str | None = None) -> Event:
    # The Struct's fields are the Event's (test_contract pins it): copied in C.
    fields = msgspec.structs.asdict(plain)
    fields["created_at"] = when
    fields["hashtags"] = tuple(plain.hashtags) if plain.hashtags else ()
    if new_source is not None:
        fields["source"] = new_source
    return checked_event(fields)
