"""Seeded hostile contract events, as the bytes of a replay line or a Kafka message value,
for the equivalence tests of the C-speed paths (``test_wire_equivalence.py`` and
``test_landing_equivalence.py``).

Each value starts from a valid event and is pushed to an edge or past it, field by field:
unicode of every plane, NUL, lone surrogates (as ``\\u`` escapes), counts at 0 and
2^63-1 and past them, years 0001 and 0999, every form RFC 3339 allows and many it does
not, absent and null optional fields, duplicate keys, unknown fields, whitespace around
every token, escapes in place of plain UTF-8, and damage to the bytes. ``REASONS`` names
every rejection the contract gives, so a test can check that the values reach each one.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_common.contract import MAX_NESTING, MAX_USER_ID_CHARS

# The reader clock the values are judged against.
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# Text that stresses a writer: quotes, backslashes, every JSON escape, C0 and C1 controls,
# NUL, U+2028, non-BMP, combining marks, CSV's and COPY's own specials, casing that
# lengthens ("İ"), and white space of both kinds.
TEXTS = (
    "",
    " ",
    "plain",
    "  Paris, France \n",
    'a "quoted", \nline',
    "back\\slash \\N",
    "\x00",
    "nul\x00inside",
    "\t\n\r\f\v",
    "\x01\x1f\x7f\x80\x9f",
    "\u2028\u2029",
    "\u00a0nbsp\u3000",
    "東京 👋",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "e\u0301",
    "İSTANBUL",
    "#Kafka",
    "# spaced ",
    "##double",
    "x" * 199 + " y",
    "é" * 250,
    "\ufeffbom",
    "\ufffd",
    "'; DROP TABLE raw_tweets; --",
    "a,b;c|d",
    "\ud800",
    "lone \udfff low",
)

# created_at: accepted forms (offsets, fractions of every length, leap second, the year
# edges) and refused ones (no offset, impossible dates, other formats).
TIMES = (
    "2026-11-21T10:15:30.123Z",
    "2026-11-21T10:15:30Z",
    "2026-11-21T10:15:30.1Z",
    "2026-11-21T10:15:30.123000Z",
    "2026-11-21T10:15:30.123456Z",
    "2026-11-21T10:15:30.123456789Z",
    "2026-11-21T10:15:30.000001Z",
    "2026-11-21t10:15:30z",
    "2026-11-21t10:15:30.123Z",
    "2026-11-21 10:15:30.123z",
    "2026-11-21T23:59:60.500Z",
    "2026-11-21 10:15:30+05:30",
    "2026-11-21T10:15:30-00:00",
    "2026-11-21T23:59:60Z",
    "2026-11-21T12:59:59.999Z",
    "2026-11-21T13:00:00Z",
    "2026-11-21T13:00:00.001Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+00:01",
    "0999-12-31T23:59:59.999999Z",
    "0999-12-31T23:30:00-01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "2026-11-21T10:15:30",
    "2026-02-30T10:00:00Z",
    "2026-11-21T24:00:00Z",
    "2026-11-21T10:15:30+24:00",
    "20261121T101530Z",
    "2026-11-21",
    "",
)

COUNTS = (0, 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -1, 10**30)
ODD_COUNTS = ("-0", "1.0", "1e3", "true", "null", '"5"', "0x10", "01", "NaN", "Infinity")
TWEET_IDS = ("1", "0", "1859540000000000001", "9" * 19, "9" * 20, "", "12a", "٣", " 1", "-1")
SOURCES = ("synthetic", "x", "replay", "kafka", "", "X")
REQUIRED = ("tweet_id", "created_at", "user_id", "followers_count", "favorite_count")
OPTIONAL = ("user_name", "location", "lang", "text", "hashtags", "source")

# Every reason the contract gives (a prefix or a piece of it), the replay's and the
# batch layer's alike, so a test can check its values reach each one.
REASONS = (
    "missing required field",
    "field 'tweet_id' must be a string of 1 to 19 digits",
    "is not RFC 3339 with an offset",
    "field 'created_at' is out of range",
    "field 'created_at' must be a string",
    "field 'user_id' must be 1 to",
    "must be a string",
    "must be an integer >= 0",
    "must be below 2^63",
    "not valid Unicode (lone surrogate)",
    "'hashtags' must be an array of strings",
    "field 'source' must be one of",
    "created_at is more than 1 hour in the future",
    "not valid JSON",
    "not a JSON object",
    "not valid UTF-8",
    "nested too deeply",
)


_SURROGATE = re.compile("[\ud800-\udfff]")


class Raw(str):
    """A value written into the JSON text as it is (a token json.dumps cannot write)."""


def _value(rng: random.Random) -> object:
    """A random JSON value for an unknown field (any type, nested a little)."""
    kind = rng.randrange(7)
    if kind == 0:
        return rng.choice(TEXTS)
    if kind == 1:
        return rng.choice(COUNTS)
    if kind == 2:
        return [_value(rng) for _ in range(rng.randrange(3))]
    if kind == 3:
        return {rng.choice(TEXTS): _value(rng) for _ in range(rng.randrange(3))}
    if kind == 4:
        return rng.choice([None, True, False, 1.5, -0.0])
    if kind == 5:
        return Raw(rng.choice(["1e400", "-1" + "0" * 40, "9" * 30]))
    return Raw("[" * rng.randrange(1, MAX_NESTING + 3))  # closed by _token


def _text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TEXTS)
    return "".join(rng.choice(TEXTS) for _ in range(rng.randrange(1, 4)))


def base_event(rng: random.Random) -> dict[str, object]:
    """A valid event, every optional field present or not, before the hostile edits."""
    event: dict[str, object] = {
        "tweet_id": str(rng.randrange(1, 10**19)),
        "created_at": (
            NOW - timedelta(days=rng.randrange(30), microseconds=rng.randrange(10**11))
        ).isoformat(timespec=rng.choice(["seconds", "milliseconds", "microseconds"]))[:-6]
        + "Z",
        "user_id": rng.choice(["u", "42", "ünï", "x" * MAX_USER_ID_CHARS, "👋" * 3]),
        "followers_count": rng.choice(COUNTS[:4]),
        "favorite_count": rng.randrange(1000),
        "retweet_count": rng.randrange(1000),
        "user_name": rng.choice(["Ada", "", "名前"]),
        "location": _text(rng),
        "lang": rng.choice(["en", "EN", " fr ", "", "und", "İ" * 40, "zh-Hant-TW"]),
        "text": _text(rng),
        "hashtags": rng.sample(["Kafka", "#kafka", "KAFKA ", "", "#", "東京", "x" * 120], 3),
        "source": rng.choice(SOURCES[:3]),
    }
    for name in OPTIONAL:
        if rng.random() < 0.2:
            del event[name]
        elif rng.random() < 0.1:
            event[name] = None
    return event


def _edit(rng: random.Random, event: dict[str, object]) -> None:
    """One hostile edit of ``event``, in place."""
    name = rng.choice([*REQUIRED, "retweet_count", *OPTIONAL])
    kind = rng.randrange(10)
    if kind == 0:
        event.pop(name, None)
    elif kind == 1:
        event[name] = None
    elif name == "tweet_id":
        event[name] = rng.choice([*TWEET_IDS, 1859540000000000001])
    elif name == "created_at":
        event[name] = rng.choice([*TIMES, 1763720130, ["2026-11-21T10:15:30Z"]])
    elif name.endswith("_count"):
        choice = rng.choice([*COUNTS, *ODD_COUNTS])
        event[name] = Raw(choice) if isinstance(choice, str) else choice
    elif name == "user_id":
        event[name] = rng.choice(
            ["", "x" * (MAX_USER_ID_CHARS + 1), "👋" * MAX_USER_ID_CHARS, "nul\x00", 5, ["u"]]
        )
    elif name == "hashtags":
        event[name] = rng.choice(
            [[], ["a", None], [1], "Kafka", {"a": 1}, [["x"]], [_text(rng) for _ in range(4)]]
        )
    elif name == "source":
        event[name] = rng.choice([*SOURCES, 1, ["x"]])
    else:
        event[name] = rng.choice([_text(rng), _text(rng), 5, True, ["t"], {"t": 1}])


def _token(rng: random.Random, value: object, ascii_only: bool) -> str:
    """``value`` as JSON text: escapes or raw UTF-8, lone surrogates as escapes."""
    if isinstance(value, Raw):
        if value.startswith("["):
            return str(value) + "]" * len(value)
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(_token(rng, v, ascii_only) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k)}:{_token(rng, v, ascii_only)}" for k, v in value.items())
            + "}"
        )
    # A lone surrogate can only be written as an escape (its UTF-8 is no UTF-8).
    return _SURROGATE.sub(
        lambda m: f"\\u{ord(m[0]):04x}", json.dumps(value, ensure_ascii=ascii_only)
    )


def serialise(rng: random.Random, event: dict[str, object]) -> bytes:
    """``event`` as one JSON object, in a random style: compact or spaced, keys shuffled
    or in order, a key written twice (the last one counts), unknown keys, escapes."""
    pairs: list[tuple[str, object]] = list(event.items())
    if rng.random() < 0.3:
        rng.shuffle(pairs)
    for _ in range(rng.choice([0, 0, 1, 3])):
        pairs.insert(rng.randrange(len(pairs) + 1), (f"extra_{rng.randrange(9)}", _value(rng)))
    if pairs and rng.random() < 0.15:
        # A duplicate key: the earlier of two copies is junk, or the later one is.
        name, value = rng.choice(pairs)
        junk = rng.choice([None, "junk", -1, [1]])
        first = rng.random() < 0.5
        pairs.insert(0 if first else len(pairs), (name, junk))
        if not first:
            pairs.insert(0, (name, value))
    ascii_only = rng.random() < 0.1
    space = rng.choice(["", "", " ", "\n", "\t", " \r\n "])
    body = ("," + space).join(
        f"{json.dumps(k, ensure_ascii=ascii_only)}{space}:{space}{_token(rng, v, ascii_only)}"
        for k, v in pairs
    )
    text = rng.choice(["", "", " ", "\t"]) + "{" + space + body + space + "}"
    text += rng.choice(["", "", " ", "\r", "\t"])
    return text.encode("utf-8", "surrogatepass")


def damage(rng: random.Random, raw: bytes) -> bytes:
    """Byte-level damage: cut, a bad UTF-8 byte, a BOM, a wrapper, nesting past the limit."""
    kind = rng.randrange(7)
    if kind == 0:
        return raw[: rng.randrange(len(raw) + 1)]
    if kind == 1:
        at = rng.randrange(len(raw) + 1)
        return raw[:at] + rng.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80"]) + raw[at:]
    if kind == 2:
        return b"\xef\xbb\xbf" + raw
    if kind == 3:
        return b"[" + raw + b"]"
    if kind == 4:
        depth = MAX_NESTING + rng.choice([-1, 0, 1, 5])
        return raw[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
    if kind == 5:
        return rng.choice([b"5", b"null", b'"text"', b"{}", b"", b"  "])
    return raw + b"{}"


def hostile_values(seed: int, count: int) -> Iterator[bytes]:
    """``count`` values from ``seed``: a fifth valid as built, most edited one to three
    times, some damaged as bytes, a few long ones (past the replay's fast path)."""
    rng = random.Random(seed)
    for _ in range(count):
        event: dict[str, Any] = base_event(rng)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            _edit(rng, event)
        if rng.random() < 0.02:
            event["pad"] = "p" * 5000
        raw = serialise(rng, event)
        yield damage(rng, raw) if rng.random() < 0.08 else raw
