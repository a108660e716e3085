"""The event itself: :class:`Event` (every type and range rule checked when it is made), its
JSON form (:meth:`Event.to_json_bytes`, :func:`encode_json`), ``created_at``'s reading
(:func:`parse_created_at`) and :func:`validate_event` of a decoded JSON value, with the
reasons a rejected message is kept with."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from lambda_common.contract.keys import normalize_hashtags, normalize_lang, normalize_location

try:
    import msgspec
except ImportError:  # the standard library alone: same outcomes, slower (see above)
    msgspec = None  # type: ignore[assignment]

MAX_USER_ID_CHARS = 256
"""``user_id`` holds 1 to this many code points: an empty id names nobody, and an unbounded
one would let a single message fill the warehouse's text column (and every reader's
memory) without limit."""

MAX_FUTURE_SKEW = timedelta(hours=1)
"""``created_at`` may be at most this far ahead of the reader's clock (inclusive)."""

SOURCES = ("synthetic", "x", "replay")
"""The allowed values of ``source``: which producer made the event."""

REQUIRED_FIELDS = (
    "tweet_id",
    "created_at",
    "user_id",
    "followers_count",
    "favorite_count",
    "retweet_count",
)
COUNT_FIELDS = ("followers_count", "favorite_count", "retweet_count")
_OPTIONAL_STRING_FIELDS = ("user_name", "location", "lang", "text")

# Exclusive upper bound of a count: it must fit a signed 64-bit BIGINT in raw_tweets (the
# views' sums are numeric(38,0), so no number of such counts overflows them).
COUNT_LIMIT = 2**63


# [0-9], never \d: in a str pattern \d also matches other scripts' digits (e.g. "٣").
TWEET_ID = re.compile(r"[0-9]{1,19}")

# RFC 3339 section 5.6 "date-time". The offset is mandatory (a naive time has no single
# UTC instant). 'T', 't' and ' ' separators and 'Z'/'z' are all allowed by the RFC
# (section 5.6 note). The fraction may have any number of digits.
_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]+))?"
    r"(?:[Zz]|(?P<sign>[+-])(?P<off_hour>[0-9]{2}):(?P<off_minute>[0-9]{2}))"
)

# The common case of _RFC3339: 'T', seconds 00-59 (no leap second), a fraction of 3 or 6
# digits or none, 'Z'. For these, and only these, datetime.fromisoformat reads exactly
# what the general path does (it would truncate or round other fraction lengths its own
# way, and takes offsets, lower case and basic formats the contract words otherwise).
UTC_SHAPE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-5][0-9](?:\.[0-9]{3}|\.[0-9]{6})?Z"
)
_from_isoformat = datetime.fromisoformat

# A lone surrogate can arrive through a JSON escape ("\ud800") even though the bytes are
# valid UTF-8. Such a str cannot be encoded back to UTF-8, so the warehouse loader and
# Event.to_json_bytes would crash on it; rejecting it here keeps the pipeline running.
_SURROGATE = re.compile("[\ud800-\udfff]")

# Longest piece of input echoed in a reason: reasons are one line in a rejects table.
ECHO_CHARS = 60

# JSON integers with more digits than this are >= 10**19 > 2**63, i.e. out of range.
MAX_COUNT_DIGITS = 19


class EventError(ValueError):
    """A value that is not a valid event. ``reason`` is one short line for the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a Kafka message is not a valid event (kept with topic/partition/offset)."""

    reason: str


def _echo(value: str) -> str:
    """Quote a piece of input for a reason: one line (repr escapes it) and short."""
    shown = repr(value[:ECHO_CHARS])
    # repr can grow a character to 10 ("\\U0001xxxx"), so cap the quoted form too.
    if len(shown) > ECHO_CHARS + 2:
        return shown[:ECHO_CHARS] + "..."
    if len(value) > ECHO_CHARS:
        return shown + "..."
    return shown


def _check_string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise EventError(f"field {name!r} must be a string")
    # isascii() is O(1) in CPython (a flag of the string): ASCII text, most of what
    # producers build, needs no search for surrogates.
    if not value.isascii() and _SURROGATE.search(value):
        raise EventError(f"field {name!r} is not valid Unicode (lone surrogate)")
    return value


def _check_user_id(value: object) -> str:
    user_id = _check_string("user_id", value)
    # len() of a str counts code points, the unit the contract states the limit in.
    if not 0 < len(user_id) <= MAX_USER_ID_CHARS:
        raise EventError(f"field 'user_id' must be 1 to {MAX_USER_ID_CHARS} characters")
    return user_id


def _check_count(name: str, value: object) -> int:
    # bool is a subclass of int in Python, but JSON true/false are not numbers.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise EventError(f"field {name!r} must be an integer >= 0")
    if value >= COUNT_LIMIT:
        raise EventError(f"field {name!r} must be below 2^63")
    return value


def check_source(value: object) -> str:
    if value not in SOURCES:
        raise EventError("field 'source' must be one of 'synthetic', 'x', 'replay'")
    return str(value)


@dataclass(frozen=True, slots=True)
class Event:
    """A valid event, normalised: ``created_at`` is an aware datetime in UTC.

    The constructor checks every type and range rule of the contract (raising
    :class:`EventError`), so an Event built by a producer always serialises to a message
    :func:`parse_event` accepts. Only the future-skew rule is not checked here: it depends
    on the reader's clock, so :func:`validate_event` applies it.

    ``location`` is kept verbatim as received; use :attr:`location_key` to group.
    ``hashtags`` is ``()`` when absent (an empty array and no array are the same).
    """

    tweet_id: str
    created_at: datetime
    user_id: str
    followers_count: int
    favorite_count: int
    retweet_count: int
    user_name: str | None = None
    location: str | None = None
    lang: str | None = None
    text: str | None = None
    hashtags: tuple[str, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tweet_id, str) or not TWEET_ID.fullmatch(self.tweet_id):
            raise EventError("field 'tweet_id' must be a string of 1 to 19 digits")
        created_at: object = self.created_at
        if not isinstance(created_at, datetime) or created_at.utcoffset() is None:
            raise EventError("field 'created_at' must be a timezone-aware datetime")
        try:
            utc = created_at.astimezone(UTC)
        except OverflowError:
            raise EventError("field 'created_at' is out of range") from None
        # Frozen dataclass: object.__setattr__ is the documented way to normalise in
        # __post_init__. Downstream code and to_dict rely on the fields being UTC.
        object.__setattr__(self, "created_at", utc)
        _check_user_id(self.user_id)
        for name in COUNT_FIELDS:
            _check_count(name, getattr(self, name))
        for name in _OPTIONAL_STRING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                _check_string(name, value)
        hashtags: object = self.hashtags
        if not isinstance(hashtags, tuple | list):
            raise EventError("field 'hashtags' must be an array of strings")
        for tag in hashtags:
            if not isinstance(tag, str):
                raise EventError("field 'hashtags' must be an array of strings")
            _check_string("hashtags", tag)
        # A list would make the frozen Event unhashable; store the immutable form.
        object.__setattr__(self, "hashtags", tuple(hashtags))
        if self.source is not None:
            check_source(self.source)

    @property
    def event_hour(self) -> datetime:
        """``created_at`` truncated to the hour, as a naive UTC datetime (the views' key)."""
        return self.created_at.replace(minute=0, second=0, microsecond=0, tzinfo=None)

    @property
    def location_key(self) -> str:
        """The location used for grouping: :func:`normalize_location` of ``location``."""
        return normalize_location(self.location)

    @property
    def lang_key(self) -> str:
        """The language used for grouping: :func:`normalize_lang` of ``lang``."""
        return normalize_lang(self.lang)

    @property
    def hashtag_keys(self) -> tuple[str, ...]:
        """The distinct hashtags the tweet counts for: :func:`normalize_hashtags`."""
        return normalize_hashtags(self.hashtags)

    def to_dict(self) -> dict[str, object]:
        """The event as the contract's JSON object; absent optional fields are omitted.

        ``created_at`` is RFC 3339 in UTC with ``Z`` and milliseconds, e.g.
        ``2026-11-21T10:15:30.123Z``; microseconds are written only when the time has
        sub-millisecond precision, so that the message parses back to an equal Event.
        """
        out: dict[str, object] = {
            "tweet_id": self.tweet_id,
            "created_at": format_created_at(self.created_at),
            "user_id": self.user_id,
        }
        if self.user_name is not None:
            out["user_name"] = self.user_name
        out["followers_count"] = self.followers_count
        out["favorite_count"] = self.favorite_count
        out["retweet_count"] = self.retweet_count
        for name in ("location", "lang", "text"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.hashtags:
            out["hashtags"] = list(self.hashtags)
        if self.source is not None:
            out["source"] = self.source
        return out

    def to_json_bytes(self) -> bytes:
        """The Kafka message value: compact UTF-8 JSON of :meth:`to_dict`.

        Non-ASCII text is written as UTF-8, not as ``\\u`` escapes (readable and smaller
        on the topic); the bytes are those of ``json.dumps(ensure_ascii=False,
        separators=(",", ":"))``, written by msgspec's encoder in C (several times faster).
        """
        return encode_json(self.to_dict())

    def with_source(self, source: str) -> Event:
        """This event with another ``source`` (one of :data:`SOURCES`, else
        :class:`EventError`). Only ``source`` is checked: every other field was checked
        when this Event was made, and a frozen Event cannot have changed since."""
        check_source(source)
        fields = {name: getattr(self, name) for name in _EVENT_FIELDS}
        fields["source"] = source
        return checked_event(fields)


_EVENT_FIELDS = tuple(Event.__dataclass_fields__)

# One encoder, made once. Its output is byte for byte that of json.dumps(obj,
# ensure_ascii=False, separators=(",", ":")).encode() for every value the pipeline writes
# (str, int, bool, None, lists and dicts of them): the same escapes (", \\, \b \f \n
# \r \t, \u00XX for other control characters), everything else as UTF-8, keys in
# insertion order (tests/unit/test_contract.py pins this on every code point).
_MSGSPEC_ENCODE = msgspec.json.Encoder().encode if msgspec is not None else None
_STDLIB_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_json(obj: object) -> bytes:
    """Compact UTF-8 JSON of ``obj``: the bytes ``json.dumps(obj, ensure_ascii=False,
    separators=(",", ":")).encode()`` gives (in C with msgspec). The one JSON writer of
    events, master records and rows."""
    if _MSGSPEC_ENCODE is not None:
        return _MSGSPEC_ENCODE(obj)
    return _STDLIB_ENCODER.encode(obj).encode()


def checked_event(fields: dict[str, object]) -> Event:
    """An Event of ``fields`` that are known to pass every rule (created_at already in
    UTC), built without running ``__post_init__`` again."""
    event = object.__new__(Event)
    # A frozen dataclass's own __init__ sets its fields this way too.
    set_field = object.__setattr__
    for name, value in fields.items():
        set_field(event, name, value)
    return event


def format_created_at(value: datetime) -> str:
    if value.tzinfo is UTC:
        # isoformat (C, zero-pads the year like the f-string below) is ~8x cheaper; in
        # UTC it ends in "+00:00", which the Z replaces.
        iso = value.isoformat(timespec="microseconds")
        return iso[:26] + "Z" if value.microsecond % 1000 else iso[:23] + "Z"
    # Built by hand, not strftime: %Y is not zero-padded for years < 1000 on every libc.
    stamp = (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
        f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )
    if value.microsecond % 1000:
        return f"{stamp}.{value.microsecond:06d}Z"
    return f"{stamp}.{value.microsecond // 1000:03d}Z"


def parse_created_at(value: str) -> datetime:
    """Parse an RFC 3339 date-time with a mandatory offset into an aware UTC datetime.

    Accepts ``Z``/``z`` or ``+HH:MM``/``-HH:MM``; ``T``, ``t`` or space between date and
    time; a fraction of any length (truncated to microseconds). A leap second (``:60``)
    is valid RFC 3339 but not representable, so it becomes ``:59.999999`` of the same
    minute (the event stays in its hour). Raises :class:`EventError` for anything else:
    no offset, date only, other formats, impossible dates or times, or a time outside
    what :class:`datetime` can hold once converted to UTC.
    """
    if not isinstance(value, str):
        raise EventError("field 'created_at' must be a string")
    if UTC_SHAPE.fullmatch(value):
        # The form our producers write: datetime.fromisoformat parses it in C, ~5x
        # cheaper, to the very datetime the general path builds (already in UTC). An
        # impossible date or time in it falls through to the general path's reason.
        try:
            return _from_isoformat(value)
        except ValueError:
            pass
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise EventError(f"field 'created_at' is not RFC 3339 with an offset: {_echo(value)}")
    second = int(match["second"])
    # Truncate (not round) extra digits: rounding could carry into the next hour.
    microsecond = int((match["fraction"] or "").ljust(6, "0")[:6])
    if second == 60:
        second, microsecond = 59, 999_999
    if match["sign"] is None:
        tz = UTC
    else:
        off_hour, off_minute = int(match["off_hour"]), int(match["off_minute"])
        if off_hour > 23 or off_minute > 59:
            raise EventError(f"field 'created_at' is out of range: {_echo(value)}")
        offset = timedelta(hours=off_hour, minutes=off_minute)
        # RFC 3339 "-00:00" means "UTC, local offset unknown": still a UTC instant.
        tz = timezone(-offset if match["sign"] == "-" else offset)
    try:
        parsed = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            second,
            microsecond,
            tzinfo=tz,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        # Month 13, 30 February, hour 24, year 0000, or past datetime.max in UTC.
        raise EventError(f"field 'created_at' is out of range: {_echo(value)}") from None


def validate_event(obj: object, *, now: datetime | None = None) -> Event:
    """Check an already-decoded JSON value against the contract and return the Event.

    ``now`` is the reader's clock (default: the current time); it must be timezone-aware.
    ``created_at`` may be at most :data:`MAX_FUTURE_SKEW` ahead of it (exactly one hour
    is accepted). Raises :class:`EventError` with a one-line ``reason`` otherwise.
    Checks run in a fixed order (object, missing fields, types, clock), so the same
    message always gets the same reason.
    """
    now = reader_clock(now)
    if not isinstance(obj, dict):
        raise EventError("value is not a JSON object")
    for name in REQUIRED_FIELDS:
        # The contract: null counts as absent, so a null required field is missing.
        if obj.get(name) is None:
            raise EventError(f"missing required field {name!r}")
    created_at = parse_created_at(obj["created_at"])
    hashtags = obj.get("hashtags")
    event = Event(
        tweet_id=obj["tweet_id"],
        created_at=created_at,
        user_id=obj["user_id"],
        followers_count=obj["followers_count"],
        favorite_count=obj["favorite_count"],
        retweet_count=obj["retweet_count"],
        user_name=obj.get("user_name"),
        location=obj.get("location"),
        lang=obj.get("lang"),
        text=obj.get("text"),
        # Event checks the remaining types (it must accept a JSON array, i.e. a list).
        hashtags=hashtags if hashtags is not None else (),
        source=obj.get("source"),
    )
    if too_far_ahead(event.created_at, now):
        raise EventError("created_at is more than 1 hour in the future")
    return event


def too_far_ahead(created_at: datetime, now: datetime) -> bool:
    """The clock's rule: more than :data:`MAX_FUTURE_SKEW` ahead of the reader's clock."""
    return created_at - now > MAX_FUTURE_SKEW


def event_from_dict(obj: dict[str, object]) -> Event:
    """The Event of a contract JSON object that was valid when it was read (a master
    record's ``event``): every rule is checked again except the clock's, which judged
    it when it was landed. Raises :class:`EventError` if it is not valid."""
    if not isinstance(obj, dict) or not isinstance(obj.get("created_at"), str):
        raise EventError("not an event object with a created_at")
    created_at = parse_created_at(str(obj["created_at"]))
    return validate_event(obj, now=created_at)


def reader_clock(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:
        # A caller bug, not bad input: a naive clock would silently shift the window.
        raise ValueError("now must be a timezone-aware datetime")
    return now
