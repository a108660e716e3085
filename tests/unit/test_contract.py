"""Unit tests of the event contract (CONTRACT.md section 1): lambda_common.contract."""

from __future__ import annotations

import dataclasses
import json
import pickle
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lambda_common.contract import (
    MAX_FUTURE_SKEW,
    MAX_HASHTAG_CHARS,
    MAX_LANG_CHARS,
    MAX_LOCATION_CHARS,
    MAX_NESTING,
    MAX_USER_ID_CHARS,
    SOURCES,
    UNKNOWN_LANG,
    UNKNOWN_LOCATION,
    Event,
    EventError,
    Rejection,
    encode_json,
    event_from_dict,
    normalize_hashtags,
    normalize_lang,
    normalize_location,
    parse_created_at,
    parse_event,
    plain_event,
    validate_event,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]

# A fixed reader clock far after every created_at below, so no test depends on the date.
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)

REQUIRED = (
    "tweet_id",
    "created_at",
    "user_id",
    "followers_count",
    "favorite_count",
    "retweet_count",
)
COUNTS = ("followers_count", "favorite_count", "retweet_count")


def minimal() -> dict[str, Any]:
    return {
        "tweet_id": "1861234567890123456",
        "created_at": "2026-11-21T10:15:30.123Z",
        "user_id": "42",
        "followers_count": 10,
        "favorite_count": 2,
        "retweet_count": 0,
    }


def full() -> dict[str, Any]:
    return minimal() | {
        "user_name": "Ada",
        "location": "  Paris, France \n",
        "lang": "fr",
        "text": "Bonjour 👋 #lambda",
        "hashtags": ["lambda", "kafka"],
        "source": "synthetic",
    }


def encode(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def parse(obj: object, now: datetime = NOW) -> Event | Rejection:
    return parse_event(encode(obj), now=now)


def reject_reason(obj: object) -> str:
    result = parse(obj)
    assert isinstance(result, Rejection), result
    return result.reason


def make_event(**changes: Any) -> Event:
    base: dict[str, Any] = {
        "tweet_id": "1",
        "created_at": datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC),
        "user_id": "u",
        "followers_count": 0,
        "favorite_count": 0,
        "retweet_count": 0,
    }
    return Event(**(base | changes))


# --- valid events -------------------------------------------------------------------


def test_minimal_event_is_valid() -> None:
    event = parse(minimal())
    assert event == Event(
        tweet_id="1861234567890123456",
        created_at=datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC),
        user_id="42",
        followers_count=10,
        favorite_count=2,
        retweet_count=0,
    )
    assert isinstance(event, Event)
    assert event.user_name is None
    assert event.location is None
    assert event.lang is None
    assert event.text is None
    assert event.hashtags == ()
    assert event.source is None


def test_full_event_is_valid_and_keeps_values_verbatim() -> None:
    event = parse(full())
    assert isinstance(event, Event)
    assert event.user_name == "Ada"
    assert event.location == "  Paris, France \n"  # verbatim; only the key is trimmed
    assert event.location_key == "Paris, France"
    assert event.lang == "fr"
    assert event.text == "Bonjour 👋 #lambda"
    assert event.hashtags == ("lambda", "kafka")
    assert event.source == "synthetic"


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_is_accepted(source: str) -> None:
    event = parse(minimal() | {"source": source})
    assert isinstance(event, Event)
    assert event.source == source


def test_unknown_extra_fields_are_ignored() -> None:
    obj = minimal() | {
        "id": 5,
        "entities": {"urls": [1, 2, {"deep": [None, True, 1.5]}]},
        "retweeted_status": None,
        "huge": 10**30,
        "big_float": 1e300,
    }
    assert parse(obj) == parse(minimal())


def test_integer_too_long_for_python_in_unknown_field_is_ignored() -> None:
    # Python's int() refuses > 4300 digits; it is still valid JSON in an ignored field.
    raw = encode(minimal())[:-1] + b',"x":' + b"9" * 5000 + b"}"
    assert isinstance(parse_event(raw, now=NOW), Event)


def test_null_optional_fields_are_absent() -> None:
    obj = minimal() | {
        "user_name": None,
        "location": None,
        "lang": None,
        "text": None,
        "hashtags": None,
        "source": None,
    }
    event = parse(obj)
    assert event == parse(minimal())
    assert isinstance(event, Event)
    assert event.location_key == UNKNOWN_LOCATION


def test_empty_hashtags_and_empty_strings_are_valid() -> None:
    # Empty optional strings only: an empty user_id is a reject (see below).
    event = parse(minimal() | {"hashtags": [], "lang": "", "text": "", "user_name": ""})
    assert isinstance(event, Event)
    assert event.hashtags == ()
    assert event.lang == ""
    assert event.user_name == ""


def test_nul_character_in_strings_is_accepted() -> None:
    event = parse_event(
        encode(minimal())[:-1] + b',"text":"a\\u0000b","location":"x\\u0000"}', now=NOW
    )
    assert isinstance(event, Event)
    assert event.text == "a\x00b"
    assert event.location == "x\x00"


def test_zero_and_max_counts_are_valid() -> None:
    event = parse(minimal() | {"followers_count": 2**63 - 1, "favorite_count": 0})
    assert isinstance(event, Event)
    assert event.followers_count == 2**63 - 1
    assert event.favorite_count == 0


@pytest.mark.parametrize("tweet_id", ["0", "7", "0007", "9" * 19, "1234567890123456789"])
def test_tweet_id_of_1_to_19_digits_is_valid(tweet_id: str) -> None:
    event = parse(minimal() | {"tweet_id": tweet_id})
    assert isinstance(event, Event)
    assert event.tweet_id == tweet_id


def test_duplicate_keys_last_one_wins() -> None:
    raw = encode(minimal())[:-1] + b',"user_id":"second"}'
    event = parse_event(raw, now=NOW)
    assert isinstance(event, Event)
    assert event.user_id == "second"


def test_surrounding_json_whitespace_is_valid() -> None:
    assert parse_event(b" \n\t" + encode(minimal()) + b"\r\n ", now=NOW) == parse(minimal())


# --- required fields ----------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_field_is_rejected(name: str) -> None:
    obj = minimal()
    del obj[name]
    assert reject_reason(obj) == f"missing required field {name!r}"


@pytest.mark.parametrize("name", REQUIRED)
def test_null_required_field_is_missing(name: str) -> None:
    assert reject_reason(minimal() | {name: None}) == f"missing required field {name!r}"


def test_validate_event_raises_event_error_with_reason() -> None:
    obj = minimal()
    del obj["user_id"]
    with pytest.raises(EventError) as info:
        validate_event(obj, now=NOW)
    assert info.value.reason == "missing required field 'user_id'"
    assert str(info.value) == info.value.reason
    assert isinstance(info.value, ValueError)


# --- wrong types --------------------------------------------------------------------


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize(
    "value", [True, False, 1.0, 0.0, 1e3, 1.5, -1, -(2**63), "1", [1], {"n": 1}]
)
def test_bad_count_is_rejected(name: str, value: object) -> None:
    assert reject_reason(minimal() | {name: value}) == f"field {name!r} must be an integer >= 0"


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("value", [2**63, 2**64, 10**19, 10**40])
def test_count_at_or_above_2_to_63_is_rejected(name: str, value: int) -> None:
    assert reject_reason(minimal() | {name: value}) == f"field {name!r} must be below 2^63"


@pytest.mark.parametrize("literal", [b"1.0", b"1e3", b"1E3", b"0e0", b"1.0e0", b"-0.0"])
def test_json_number_with_fraction_or_exponent_is_not_a_count(literal: bytes) -> None:
    obj = minimal()
    del obj["retweet_count"]
    raw = encode(obj)[:-1] + b', "retweet_count": ' + literal + b"}"
    result = parse_event(raw, now=NOW)
    assert result == Rejection("field 'retweet_count' must be an integer >= 0")


def test_huge_negative_count_is_rejected_not_crashing() -> None:
    raw = encode(minimal())[:-1] + b',"favorite_count":-' + b"9" * 5000 + b"}"
    assert parse_event(raw, now=NOW) == Rejection("field 'favorite_count' must be an integer >= 0")


def test_minus_zero_is_the_integer_zero() -> None:
    raw = encode(minimal())[:-1] + b',"retweet_count":-0}'
    event = parse_event(raw, now=NOW)
    assert isinstance(event, Event)
    assert event.retweet_count == 0


@pytest.mark.parametrize(
    "tweet_id",
    ["", "12a", "abc", "1" * 20, " 1", "1 ", "+1", "-1", "1.0", "٣", "１", 123, 1.0, True, []],
)
def test_bad_tweet_id_is_rejected(tweet_id: object) -> None:
    assert (
        reject_reason(minimal() | {"tweet_id": tweet_id})
        == "field 'tweet_id' must be a string of 1 to 19 digits"
    )


@pytest.mark.parametrize("value", [42, 4.2, True, ["42"], {"id": "42"}])
def test_user_id_must_be_a_string(value: object) -> None:
    assert reject_reason(minimal() | {"user_id": value}) == "field 'user_id' must be a string"


# 256 code points whatever their UTF-8 or UTF-16 length: ASCII, 2-byte, 3-byte, astral
# (2 UTF-16 units, 4 UTF-8 bytes), and a combining mark counted on its own.
USER_ID_256 = ["u", "7" * 256, "é" * 256, "東" * 256, "😀" * 256, "e\u0301" * 128, "\x00" * 256]
USER_ID_BAD = ["", "7" * 257, "é" * 257, "😀" * 257, "e\u0301" * 128 + "x", "x" * 10_000]


def test_the_user_id_limit_is_256() -> None:
    assert MAX_USER_ID_CHARS == 256


@pytest.mark.parametrize("user_id", USER_ID_256)
@pytest.mark.parametrize("ascii_only", [False, True])  # raw UTF-8, or \u escapes (full path)
def test_user_id_of_1_to_256_code_points_is_valid(user_id: str, ascii_only: bool) -> None:
    value = json.dumps(minimal() | {"user_id": user_id}, ensure_ascii=ascii_only).encode()
    event = parse_event(value, now=NOW)
    assert isinstance(event, Event)
    assert event.user_id == user_id
    assert make_event(user_id=user_id).user_id == user_id


@pytest.mark.parametrize("user_id", USER_ID_BAD)
@pytest.mark.parametrize("ascii_only", [False, True])
def test_empty_or_too_long_user_id_is_rejected(user_id: str, ascii_only: bool) -> None:
    value = json.dumps(minimal() | {"user_id": user_id}, ensure_ascii=ascii_only).encode()
    result = parse_event(value, now=NOW)
    assert result == Rejection("field 'user_id' must be 1 to 256 characters")
    with pytest.raises(EventError) as info:
        make_event(user_id=user_id)
    assert info.value.reason == "field 'user_id' must be 1 to 256 characters"


def test_user_id_rules_come_in_order_type_then_unicode_then_length() -> None:
    assert reject_reason(minimal() | {"user_id": None}) == "missing required field 'user_id'"
    assert reject_reason(minimal() | {"user_id": 7}) == "field 'user_id' must be a string"
    surrogate = encode(minimal())[:-1] + b',"user_id":"\\ud800' + b"x" * 300 + b'"}'
    assert parse_event(surrogate, now=NOW) == Rejection(
        "field 'user_id' is not valid Unicode (lone surrogate)"
    )
    # The tweet_id is checked before the user_id: one reason per message, always the same.
    both = minimal() | {"tweet_id": "x", "user_id": ""}
    assert reject_reason(both) == "field 'tweet_id' must be a string of 1 to 19 digits"


@pytest.mark.parametrize("name", ["user_name", "location", "lang", "text"])
@pytest.mark.parametrize("value", [1, 0, 1.5, False, ["a"], {"a": "b"}])
def test_optional_string_of_wrong_type_is_rejected(name: str, value: object) -> None:
    assert reject_reason(minimal() | {name: value}) == f"field {name!r} must be a string"


@pytest.mark.parametrize("value", ["tag", {"a": 1}, 1, True, ["a", 1], ["a", None], [["a"]]])
def test_hashtags_must_be_an_array_of_strings(value: object) -> None:
    assert (
        reject_reason(minimal() | {"hashtags": value})
        == "field 'hashtags' must be an array of strings"
    )


@pytest.mark.parametrize("value", ["twitter", "X", "Synthetic", "", 1, True, ["x"], {"x": 1}])
def test_source_outside_the_enum_is_rejected(value: object) -> None:
    assert (
        reject_reason(minimal() | {"source": value})
        == "field 'source' must be one of 'synthetic', 'x', 'replay'"
    )


@pytest.mark.parametrize("value", [1763720130, 1.5, True, ["2026-11-21T10:15:30Z"]])
def test_created_at_must_be_a_string(value: object) -> None:
    assert reject_reason(minimal() | {"created_at": value}) == "field 'created_at' must be a string"


@pytest.mark.parametrize("name", ["text", "location", "user_id", "hashtags"])
def test_lone_surrogate_escape_is_rejected(name: str) -> None:
    # Valid UTF-8 bytes and valid JSON syntax, but not text that can be stored or re-sent.
    value = b'["a\\ud800"]' if name == "hashtags" else b'"a\\udc00b"'
    raw = encode(minimal() | {name: None}).replace(
        f'"{name}": null'.encode(), f'"{name}": '.encode() + value
    )
    result = parse_event(raw, now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason == f"field {name!r} is not valid Unicode (lone surrogate)"


def test_escaped_surrogate_pair_is_a_valid_character() -> None:
    raw = encode(minimal())[:-1] + b',"text":"\\ud83d\\ude00"}'
    event = parse_event(raw, now=NOW)
    assert isinstance(event, Event)
    assert event.text == "😀"


# --- created_at ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-21T10:15:30Z", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21T10:15:30.123Z", datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC)),
        ("2026-11-21t10:15:30z", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21 10:15:30Z", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21T12:15:30+02:00", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21T05:45:30-04:30", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21T10:15:30+00:00", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-21T10:15:30-00:00", datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-22T01:00:00+14:00", datetime(2026, 11, 21, 11, 0, 0, tzinfo=UTC)),
        (
            "2026-11-21T10:15:30.123456789Z",
            datetime(2026, 11, 21, 10, 15, 30, 123456, tzinfo=UTC),
        ),
        ("2026-11-21T10:15:30.5Z", datetime(2026, 11, 21, 10, 15, 30, 500000, tzinfo=UTC)),
        # Truncated, never rounded: rounding .9999999 up would move to the next hour.
        ("2026-11-21T10:59:59.9999999Z", datetime(2026, 11, 21, 10, 59, 59, 999999, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
        # A leap second stays inside its minute (and hour).
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_created_at_accepts_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_created_at(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert (parsed.hour, parsed.minute, parsed.microsecond) == (
        expected.hour,
        expected.minute,
        expected.microsecond,
    )


def test_offset_is_converted_to_utc_across_a_day_boundary() -> None:
    parsed = parse_created_at("2026-11-22T01:30:00+02:00")
    assert parsed.tzinfo is UTC
    assert (parsed.year, parsed.month, parsed.day, parsed.hour) == (2026, 11, 21, 23)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-21T10:15:30",  # naive
        "2026-11-21T10:15:30.123",  # naive with fraction
        "2026-11-21",  # date only
        "2026-11-21Z",
        "10:15:30Z",  # time only
        "2026-11-21T10:15Z",  # no seconds
        "2026-11-21T10:15:30+0200",  # offset without colon
        "2026-11-21T10:15:30+02",  # offset without minutes
        "2026-11-21T10:15:30 Z",
        "2026-11-21T10:15:30.Z",  # empty fraction
        "2026-11-21T10:15:30,123Z",  # comma fraction (ISO 8601, not RFC 3339)
        "2026-11-21_10:15:30Z",
        "20261121T101530Z",  # ISO 8601 basic format
        "2026-W47-6T10:15:30Z",
        "26-11-21T10:15:30Z",
        "+2026-11-21T10:15:30Z",
        " 2026-11-21T10:15:30Z",
        "2026-11-21T10:15:30Z ",
        "2026-11-21T10:15:30Z\n",
        "2026-1-21T10:15:30Z",
        "２０２６-11-21T10:15:30Z",  # fullwidth digits
        "2026-11-21T10:15:30UTC",
        "Sat Nov 21 10:15:30 +0000 2026",  # the old Twitter API format
        "1763720130",
        "garbage",
        "",
    ],
)
def test_parse_created_at_rejects_non_rfc3339(text: str) -> None:
    with pytest.raises(EventError) as info:
        parse_created_at(text)
    assert info.value.reason.startswith("field 'created_at' is not RFC 3339 with an offset")


@pytest.mark.parametrize(
    "text",
    [
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T10:60:00Z",
        "2026-11-21T10:15:61Z",
        "2026-11-21T10:15:30+24:00",
        "2026-11-21T10:15:30+02:60",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    ],
)
def test_parse_created_at_rejects_out_of_range(text: str) -> None:
    with pytest.raises(EventError) as info:
        parse_created_at(text)
    assert info.value.reason.startswith("field 'created_at' is out of range")


def test_bad_created_at_in_a_message_is_rejected_with_a_short_reason() -> None:
    reason = reject_reason(minimal() | {"created_at": "2026-11-21T10:15:30" + "x" * 10_000})
    assert reason.startswith("field 'created_at' is not RFC 3339 with an offset: '2026-11-21")
    assert len(reason) < 150
    assert "\n" not in reject_reason(minimal() | {"created_at": "a\nb" * 100})


def test_created_at_with_offset_is_stored_in_utc() -> None:
    event = parse(minimal() | {"created_at": "2026-11-21T12:15:30.123+02:00"})
    assert isinstance(event, Event)
    assert event.created_at == datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC)
    assert event.created_at.tzinfo is UTC
    assert event.created_at.hour == 10


# --- future skew --------------------------------------------------------------------


def at(moment: datetime) -> dict[str, Any]:
    return minimal() | {"created_at": moment.isoformat()}


def test_exactly_one_hour_ahead_is_accepted() -> None:
    assert timedelta(hours=1) == MAX_FUTURE_SKEW
    assert isinstance(parse(at(NOW + timedelta(hours=1))), Event)


def test_more_than_one_hour_ahead_is_rejected() -> None:
    assert reject_reason(at(NOW + timedelta(hours=1, seconds=1))) == (
        "created_at is more than 1 hour in the future"
    )
    assert isinstance(parse(at(NOW + timedelta(hours=1, microseconds=1))), Rejection), (
        "even one microsecond past the hour is too far"
    )


def test_past_events_of_any_age_are_accepted() -> None:
    assert isinstance(parse(at(NOW - timedelta(days=3650))), Event)
    assert isinstance(parse(minimal() | {"created_at": "1970-01-01T00:00:00Z"}), Event)


def test_skew_compares_instants_not_wall_clocks() -> None:
    # 13:00 at +02:00 is 11:00 UTC, one hour before NOW in UTC terms.
    assert isinstance(parse(minimal() | {"created_at": "2026-11-21T15:00:00+02:00"}), Event)
    assert isinstance(parse(minimal() | {"created_at": "2026-11-21T15:00:01+02:00"}), Rejection)
    # A reader clock in another zone is the same instant.
    assert isinstance(
        parse(at(NOW + timedelta(hours=1)), now=NOW.astimezone(timezone(timedelta(hours=-5)))),
        Event,
    )


def test_validate_event_uses_the_injected_clock() -> None:
    obj = minimal() | {"created_at": "2030-01-01T00:00:00Z"}
    assert isinstance(validate_event(obj, now=datetime(2030, 1, 1, tzinfo=UTC)), Event)
    with pytest.raises(EventError, match="more than 1 hour in the future"):
        validate_event(obj, now=datetime(2029, 12, 31, 22, 59, 59, tzinfo=UTC))


def test_default_clock_is_the_current_time() -> None:
    soon = datetime.now(UTC) + timedelta(minutes=30)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert isinstance(parse_event(encode(at(soon))), Event)
    assert parse_event(encode(at(later))) == Rejection(
        "created_at is more than 1 hour in the future"
    )


def test_naive_reader_clock_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_event(encode(minimal()), now=datetime(2026, 11, 21, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_event(minimal(), now=datetime(2026, 11, 21, 12))


# --- not an event at all ------------------------------------------------------------


def test_none_and_empty_values_are_rejected() -> None:
    assert isinstance(parse_event(None, now=NOW), Rejection)
    assert isinstance(parse_event(b"", now=NOW), Rejection)
    assert parse_event(b"", now=NOW) == Rejection("value is empty")


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff",
        b'{"tweet_id": "\xff"}',
        b"\xc0\xaf",  # overlong "/"
        b'{"text": "\xed\xa0\x80"}',  # UTF-8-encoded surrogate (CESU-8)
        b'{"text": "\xe2\x82"}',  # truncated sequence
        "{}".encode("utf-16"),
        '{"text": "é"}'.encode("latin-1"),
    ],
)
def test_non_utf8_is_rejected(raw: bytes) -> None:
    assert parse_event(raw, now=NOW) == Rejection("value is not valid UTF-8")


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b"{'tweet_id': '1'}",
        b'{"a": 1,}',
        b"{} {}",
        b"\xef\xbb\xbf{}",  # UTF-8 BOM
        b'{"text": "line\nbreak"}',  # raw control character inside a string
        b"   ",
        b'{"n": 01}',
    ],
)
def test_non_json_is_rejected(raw: bytes) -> None:
    result = parse_event(raw, now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason.startswith("value is not valid JSON: ")
    assert len(result.reason) < 120


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("field", [b"followers_count", b"unknown_extra"])
def test_nan_and_infinity_are_not_json(constant: bytes, field: bytes) -> None:
    raw = encode(minimal())[:-1] + b',"' + field + b'":' + constant + b"}"
    result = parse_event(raw, now=NOW)
    assert isinstance(result, Rejection)
    assert result.reason.startswith("value is not valid JSON: ")
    assert constant.lstrip(b"-").decode() in result.reason


@pytest.mark.parametrize("value", [[], [minimal()], "a string", 42, 1.5, True, None, [1, 2, 3]])
def test_top_level_non_object_is_rejected(value: object) -> None:
    assert parse(value) == Rejection("value is not a JSON object")


def test_validate_event_rejects_non_dict() -> None:
    with pytest.raises(EventError, match="not a JSON object"):
        validate_event([minimal()], now=NOW)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        encode(minimal())[:-1] + b',"deep":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_deeply_nested_json_is_rejected_without_raising(raw: bytes) -> None:
    assert parse_event(raw, now=NOW) == TOO_DEEP


# One nesting limit for both paths (security finding 10): msgspec's and json's own limits
# followed the caller's stack (the fast path accepted an unknown field nested 992 deep,
# json 989), so the batch layer (msgspec) and a speed executor (json alone) could judge
# one message differently.

TOO_DEEP = Rejection(f"value is not valid JSON: nested too deeply (more than {MAX_NESTING} levels)")


def _nested(levels: int, *, kind: str = "array") -> bytes:
    """A valid event whose unknown field nests it ``levels`` deep in all (the event
    object is level 1)."""
    inner = levels - 1
    if kind == "array":
        deep = b"[" * inner + b"]" * inner
    else:
        deep = b'{"a":' * inner + b"1" + b"}" * inner
    return encode(minimal())[:-1] + b',"deep":' + deep + b"}"


@pytest.mark.parametrize("kind", ["array", "object"])
def test_nesting_to_the_limit_is_valid_and_one_more_level_is_not_on_both_paths(
    kind: str,
) -> None:
    at_limit, past = _nested(MAX_NESTING, kind=kind), _nested(MAX_NESTING + 1, kind=kind)
    # The fast path alone (msgspec), the full path alone (json), and parse_event.
    assert plain_event(at_limit, now=NOW) == parse(minimal())
    assert _without_fast_path(at_limit) == parse(minimal())
    assert parse_event(at_limit, now=NOW) == parse(minimal())
    assert plain_event(past, now=NOW) is None
    assert _without_fast_path(past) == TOO_DEEP
    assert parse_event(past, now=NOW) == TOO_DEEP


def test_brackets_inside_strings_do_not_count() -> None:
    text = "[" * 500 + '\\"{' * 100  # escaped quotes do not end the string either
    assert isinstance(parse_event(encode(minimal() | {"text": text}), now=NOW), Event)
    # An unterminated string runs to the end, as the decoders read it: a syntax error.
    result = parse_event(encode(minimal())[:-1] + b',"x":"' + b"[" * 99 + b"}", now=NOW)
    assert isinstance(result, Rejection) and result != TOO_DEEP
    assert result.reason.startswith("value is not valid JSON: Unterminated string")


def test_the_limit_does_not_move_with_the_callers_stack() -> None:
    """Called with little stack left, both paths judge as with plenty: the limit is
    counted on the bytes, not by the decoders' recursion."""
    at_limit, past = _nested(MAX_NESTING), _nested(MAX_NESTING + 1)
    results: list[object] = []

    def deep(frames: int) -> None:
        if frames:
            deep(frames - 1)
            return
        results.extend(
            [
                parse_event(at_limit, now=NOW),
                _without_fast_path(at_limit),
                parse_event(past, now=NOW),
                _without_fast_path(past),
            ]
        )

    deep(sys.getrecursionlimit() - 150)
    assert results == [parse(minimal()), parse(minimal()), TOO_DEEP, TOO_DEEP]


def test_the_depth_check_is_quick_on_hostile_bytes() -> None:
    """A megabyte of brackets, or of quotes and backslashes, takes well under a second."""
    for raw in (b"[]" * 500_000, b'"\\"' * 250_000 + b"[" * 100, b'["' + b"\\" * 500_000):
        started = time.monotonic()
        parse_event(raw, now=NOW)
        assert time.monotonic() - started < 1.0


def test_bytearray_and_memoryview_are_accepted() -> None:
    raw = encode(minimal())
    assert parse_event(bytearray(raw), now=NOW) == parse(minimal())  # type: ignore[arg-type]
    assert parse_event(memoryview(raw), now=NOW) == parse(minimal())  # type: ignore[arg-type]


def test_str_value_is_rejected_not_raised() -> None:
    result = parse_event(json.dumps(minimal()), now=NOW)  # type: ignore[arg-type]
    assert isinstance(result, Rejection)


# Pieces the mutations below insert: JSON values of the wrong kind, bad escapes and bytes,
# keys that override a field (the last copy of a key counts), an integer past 2**63.
_INSERTS = [b"null", b"true", b"1.0", b"1e3", b"-1", b"-0", b"1e400", b"NaN", b'"', b"[", b"}"]
_INSERTS += [b"\\u", b"\\ud800", b"\xed\xa0\x80", b"9" * 25]
_INSERTS += [b'"tweet_id":"x",', b'"user_id":null,', b'"hashtags":[1],']


def _mutate(rng: random.Random, raw: bytes, rounds: int = 3) -> bytes:
    """``raw`` with 1 to ``rounds`` random deletions and insertions (bytes, pieces)."""
    buf = bytearray(raw)
    for _ in range(rng.randrange(1, rounds + 1)):
        pos = rng.randrange(len(buf) + 1)
        op = rng.randrange(3)
        if op == 0 and buf:
            del buf[min(pos, len(buf) - 1)]
        elif op == 1:
            buf.insert(pos, rng.choice([rng.randrange(256), *b' ,:"{}[]0-.e9aZT\\\x00\xff\xc3']))
        else:
            buf[pos:pos] = rng.choice(_INSERTS)
    return bytes(buf)


def test_parse_event_never_raises_on_random_or_mutated_input() -> None:
    rng = random.Random(20261121)
    seeds = [encode(full()), encode(minimal()), b'{"a":[1,2,{"b":null}]}']
    for _ in range(3000):
        if rng.random() < 0.3:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        else:
            raw = _mutate(rng, rng.choice(seeds), rounds=5)
        result = parse_event(raw, now=NOW)
        assert isinstance(result, Event | Rejection)
        if isinstance(result, Rejection):
            assert result.reason
            assert "\n" not in result.reason
            assert len(result.reason) < 200


# --- location -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Paris", "Paris"),
        ("  Paris  ", "Paris"),
        ("\t\n\r\f\vParis\v\f\r\n\t ", "Paris"),
        ("New  York", "New  York"),  # inner whitespace kept
        ("\u00a0Paris\u00a0", "\u00a0Paris\u00a0"),  # NO-BREAK SPACE is not ASCII
        ("\u3000東京\u3000", "\u3000東京\u3000"),  # IDEOGRAPHIC SPACE is not ASCII
        ("\u2003Paris\u0085", "\u2003Paris\u0085"),
        ("\x1cParis\x1f", "\x1cParis\x1f"),  # str.strip() would remove these
        ("\x00Paris", "\x00Paris"),
        ("\"quoted\" 'single'", "\"quoted\" 'single'"),
        ("back\\slash\\", "back\\slash\\"),
        ("\\N", "\\N"),
        ("'; DROP TABLE batch_view; --", "'; DROP TABLE batch_view; --"),
        ("a,b\tc|d", "a,b\tc|d"),
        ("PARIS", "PARIS"),  # no case folding
        ("(unknown)", "(unknown)"),
        ("🇫🇷 Paris", "🇫🇷 Paris"),
    ],
)
def test_normalize_location_verbatim_except_ascii_trim(raw: str, expected: str) -> None:
    assert normalize_location(raw) == expected


@pytest.mark.parametrize("raw", [None, "", " ", "\t\n\r\f\v ", "     \n"])
def test_absent_or_blank_location_is_unknown(raw: str | None) -> None:
    assert UNKNOWN_LOCATION == "(unknown)"
    assert normalize_location(raw) == UNKNOWN_LOCATION


def test_location_is_cut_to_200_code_points() -> None:
    assert MAX_LOCATION_CHARS == 200
    assert normalize_location("😀" * 201) == "😀" * 200
    assert normalize_location("a" * 200) == "a" * 200
    assert normalize_location("é" * 1000) == "é" * 200
    # Combining marks are code points of their own, not part of a "character".
    assert normalize_location("e\u0301" * 101) == ("e\u0301" * 100)


def test_location_is_trimmed_before_it_is_cut() -> None:
    assert normalize_location(" " * 300 + "x" * 250 + " " * 10) == "x" * 200
    # Trimmed again after the cut, so no key ends in whitespace: Redshift compares VARCHAR
    # ignoring trailing spaces and would merge "x" and "x " (contract version 3).
    assert normalize_location("x" * 199 + " y") == "x" * 199
    assert normalize_location("x" * 190 + " \t" * 10 + "y") == "x" * 190
    assert normalize_location("x y ") == "x y"  # inner whitespace below the cut is kept


def test_location_key_of_an_event() -> None:
    event = parse(minimal() | {"location": " \\N \n"})
    assert isinstance(event, Event)
    assert event.location == " \\N \n"
    assert event.location_key == "\\N"
    blank = parse(minimal() | {"location": "   "})
    assert isinstance(blank, Event)
    assert blank.location == "   "
    assert blank.location_key == UNKNOWN_LOCATION


# --- hashtags and lang (CONTRACT section 2b) ------------------------------------------


def test_hashtag_and_lang_limits() -> None:
    assert MAX_HASHTAG_CHARS == 100
    assert MAX_LANG_CHARS == 35
    assert UNKNOWN_LANG == "(unknown)"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Kafka", "kafka"),
        ("DataEngineering", "dataengineering"),
        ("#Kafka", "kafka"),
        ("  #Kafka  ", "kafka"),
        ("\t\n\r\f\v#BigData\v\f\r\n\t ", "bigdata"),
        ("##x", "#x"),  # one leading '#' only
        ("###", "##"),
        ("# x", "x"),  # trimmed again after the cut (contract version 3)
        ("#x ", "x"),  # the trim comes first
        (" x#", "x#"),  # a '#' elsewhere is kept
        ("\u00a0Tag\u00a0", "\u00a0tag\u00a0"),  # NO-BREAK SPACE is not ASCII
        ("#\u00a0", "\u00a0"),
        ("\u3000東京\u3000", "\u3000東京\u3000"),  # IDEOGRAPHIC SPACE neither
        ("\x1cTag\x1f", "\x1ctag\x1f"),  # str.strip() would remove these
        ("ÉTÉ", "été"),
        ("Straße", "straße"),  # str.lower(), not casefold()
        ("ΣΟΦΟΣ", "σοφο\u03c2"),  # final sigma, as str.lower() writes it
        ("Ta\x00g", "ta\x00g"),  # NUL is kept by the contract (the warehouse replaces it)
        ("🇫🇷Paris", "🇫🇷paris"),
        ("'; DROP TABLE batch_hashtags; --", "'; drop table batch_hashtags; --"),
    ],
)
def test_normalize_hashtags_of_one_tag(raw: str, expected: str) -> None:
    assert normalize_hashtags([raw]) == (expected,)
    assert normalize_hashtags((raw,)) == (expected,)


def test_normalize_hashtags_keeps_distinct_keys_in_first_order() -> None:
    tags = ["Kafka", "#kafka", " KAFKA\t", "Spark", "#KAFKA", "spark", "##kafka", "AI"]
    assert normalize_hashtags(tags) == ("kafka", "spark", "#kafka", "ai")


@pytest.mark.parametrize(
    "raw", [[], (), [""], ["   "], ["#"], [" # "], ["\t#\n"], ["", "#", "\v\f"]]
)
def test_hashtags_empty_after_normalisation_are_dropped(raw: list[str]) -> None:
    assert normalize_hashtags(raw) == ()


def test_an_empty_hashtag_does_not_hide_the_others() -> None:
    assert normalize_hashtags(["#", "Kafka", " "]) == ("kafka",)


def test_hashtag_is_cut_to_100_code_points_after_the_hash_is_removed() -> None:
    assert normalize_hashtags(["a" * 101]) == ("a" * 100,)
    assert normalize_hashtags(["#" + "a" * 100]) == ("a" * 100,)
    assert normalize_hashtags(["😀" * 150]) == ("😀" * 100,)
    # Two tags that differ only after the cut are one key.
    assert normalize_hashtags(["a" * 100 + "B", "A" * 100 + "c"]) == ("a" * 100,)
    # Trimmed before the cut and again after it: no key starts or ends in whitespace.
    assert normalize_hashtags([" " * 300 + "x" * 120]) == ("x" * 100,)
    assert normalize_hashtags(["x" * 99 + " y"]) == ("x" * 99,)
    assert normalize_hashtags(["# Kafka", "#kafka "]) == ("kafka",)
    assert normalize_hashtags(["a b"]) == ("a b",)


def test_hashtag_is_lower_cased_before_it_is_cut() -> None:
    # "İ".lower() is two code points (i + COMBINING DOT ABOVE): the key is cut after it.
    assert len("İ".lower()) == 2
    assert normalize_hashtags(["İ" * 100]) == ("i\u0307" * 50,)
    assert normalize_hashtags(["a" * 99 + "İ"]) == ("a" * 99 + "i",)
    assert normalize_hashtags(["#İstanbul"]) == ("i\u0307stanbul",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("en", "en"),
        (" EN ", "en"),
        ("pt-BR", "pt-br"),
        ("\t\n\r\f\vZh-Hant-TW\v\f", "zh-hant-tw"),
        ("und", "und"),
        ("\u00a0en", "\u00a0en"),  # NO-BREAK SPACE is not ASCII
        ("e n", "e n"),
        ("#en", "#en"),  # no '#' rule for lang
        ("(UNKNOWN)", "(unknown)"),
        ("e\x00n", "e\x00n"),
        ("x" * 36, "x" * 35),
        (" " * 50 + "Y" * 40, "y" * 35),  # trimmed, lower-cased, then cut
        ("İ" * 35, ("i\u0307" * 35)[:35]),
        ("a" * 34 + "İ", "a" * 34 + "i"),
    ],
)
def test_normalize_lang(raw: str, expected: str) -> None:
    assert normalize_lang(raw) == expected


@pytest.mark.parametrize("raw", [None, "", " ", "\t\n\r\f\v "])
def test_absent_or_blank_lang_is_unknown(raw: str | None) -> None:
    assert normalize_lang(raw) == UNKNOWN_LANG


def test_hashtag_keys_and_lang_key_of_an_event() -> None:
    event = parse(minimal() | {"lang": " PT-br\n", "hashtags": ["#Kafka", " kafka ", "", "Spark"]})
    assert isinstance(event, Event)
    assert event.hashtags == ("#Kafka", " kafka ", "", "Spark")  # verbatim
    assert event.lang == " PT-br\n"
    assert event.hashtag_keys == ("kafka", "spark")
    assert event.lang_key == "pt-br"
    bare = parse(minimal())
    assert isinstance(bare, Event)
    assert bare.hashtag_keys == ()
    assert bare.lang_key == UNKNOWN_LANG


def test_event_from_dict_checks_every_rule_but_the_clock() -> None:
    # A master record's event was valid when it was landed: later than any clock now.
    future = datetime.now(UTC) + timedelta(days=30)
    obj = full() | {"created_at": future.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    event = event_from_dict(obj)
    assert event.tweet_id == obj["tweet_id"]
    assert event.created_at == future
    assert event.hashtag_keys == ("lambda", "kafka")
    assert event == parse(obj, now=future)


@pytest.mark.parametrize(
    "obj",
    [
        minimal() | {"followers_count": -1},
        minimal() | {"created_at": "yesterday"},
        minimal() | {"created_at": None},
        {k: v for k, v in minimal().items() if k != "created_at"},
        {k: v for k, v in minimal().items() if k != "user_id"},
        minimal() | {"hashtags": ["a", 1]},
    ],
)
def test_event_from_dict_rejects_an_invalid_event(obj: dict[str, Any]) -> None:
    with pytest.raises(EventError):
        event_from_dict(obj)


@pytest.mark.parametrize("obj", [None, [1], "event"])
def test_event_from_dict_rejects_a_non_object(obj: Any) -> None:
    with pytest.raises(EventError):
        event_from_dict(obj)


# --- event_hour ---------------------------------------------------------------------


def test_event_hour_is_naive_utc_truncated_to_the_hour() -> None:
    event = parse(minimal() | {"created_at": "2026-11-21T12:59:59.999+02:00"})
    assert isinstance(event, Event)
    assert event.event_hour == datetime(2026, 11, 21, 10, 0, 0)
    assert event.event_hour.tzinfo is None


@pytest.mark.parametrize(
    ("created_at", "hour"),
    [
        ("2026-11-21T10:00:00Z", datetime(2026, 11, 21, 10)),
        ("2026-11-21T10:59:59.999999999Z", datetime(2026, 11, 21, 10)),
        ("2026-11-21T00:30:00+01:00", datetime(2026, 11, 20, 23)),
        ("2026-11-20T23:30:00-00:45", datetime(2026, 11, 21, 0)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23)),
    ],
)
def test_event_hour_examples(created_at: str, hour: datetime) -> None:
    event = parse(minimal() | {"created_at": created_at})
    assert isinstance(event, Event)
    assert event.event_hour == hour


# --- serialisation ------------------------------------------------------------------


def test_to_dict_follows_the_contract_and_omits_absent_fields() -> None:
    event = parse(minimal())
    assert isinstance(event, Event)
    assert event.to_dict() == {
        "tweet_id": "1861234567890123456",
        "created_at": "2026-11-21T10:15:30.123Z",
        "user_id": "42",
        "followers_count": 10,
        "favorite_count": 2,
        "retweet_count": 0,
    }


def test_to_dict_of_a_full_event() -> None:
    event = parse(full() | {"created_at": "2026-11-21T12:15:30+02:00"})
    assert isinstance(event, Event)
    assert event.to_dict() == full() | {"created_at": "2026-11-21T10:15:30.000Z"}


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC), "2026-11-21T10:15:30.000Z"),
        (datetime(2026, 11, 21, 10, 15, 30, 123000, tzinfo=UTC), "2026-11-21T10:15:30.123Z"),
        (datetime(2026, 11, 21, 10, 15, 30, 1000, tzinfo=UTC), "2026-11-21T10:15:30.001Z"),
        # Sub-millisecond precision is kept, so a message parses back to an equal Event.
        (datetime(2026, 11, 21, 10, 15, 30, 123456, tzinfo=UTC), "2026-11-21T10:15:30.123456Z"),
        (datetime(5, 1, 2, 3, 4, 5, tzinfo=UTC), "0005-01-02T03:04:05.000Z"),
        (
            datetime(2026, 11, 21, 11, 15, 30, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-21T10:15:30.000Z",
        ),
    ],
)
def test_created_at_is_written_as_rfc3339_utc(moment: datetime, text: str) -> None:
    event = make_event(created_at=moment)
    assert event.to_dict()["created_at"] == text
    assert parse_created_at(text) == moment


def test_to_json_bytes_is_compact_utf8() -> None:
    event = parse(full())
    assert isinstance(event, Event)
    raw = event.to_json_bytes()
    assert isinstance(raw, bytes)
    assert b": " not in raw
    assert b", " not in raw.replace(b"Paris, France", b"")
    assert "👋".encode() in raw  # ensure_ascii=False: not \ud83d\udc4b
    assert b"\\u" not in raw
    assert json.loads(raw.decode("utf-8")) == event.to_dict()
    assert raw.startswith(b'{"tweet_id":"1861234567890123456","created_at":')


@pytest.mark.parametrize(
    "obj",
    [
        minimal(),
        full(),
        full() | {"created_at": "2026-11-21T10:15:30.123456789+05:30"},
        full() | {"location": "\\N \"'; DROP TABLE t; --\x00 \u00a0", "text": "\u2028\u2029"},
        minimal() | {"followers_count": 2**63 - 1, "hashtags": ["", "a", "a"]},
        minimal() | {"created_at": "2016-12-31T23:59:60Z"},
    ],
)
def test_to_json_bytes_round_trips_through_parse_event(obj: dict[str, Any]) -> None:
    event = parse(obj)
    assert isinstance(event, Event)
    again = parse_event(event.to_json_bytes(), now=NOW)
    assert again == event
    assert isinstance(again, Event)
    assert again.to_json_bytes() == event.to_json_bytes()


def test_event_built_in_python_round_trips() -> None:
    event = make_event(
        created_at=datetime(2026, 11, 21, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-7))),
        user_name="Zoë",
        location="  Köln ",
        hashtags=("a", "b"),
        source="replay",
    )
    assert event.created_at.tzinfo is UTC
    assert event.created_at.hour == 10
    assert parse_event(event.to_json_bytes(), now=NOW) == event


# --- the Event type itself ----------------------------------------------------------


def test_event_is_frozen_hashable_and_picklable() -> None:
    event = parse(full())
    assert isinstance(event, Event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.tweet_id = "2"  # type: ignore[misc]
    assert {event, parse(full())} == {event}
    # Spark ships rows between processes with pickle; our own bytes, so S301 does not apply.
    assert pickle.loads(pickle.dumps(event)) == event  # noqa: S301
    assert not hasattr(event, "__dict__")  # slots


def test_event_constructor_normalises_list_hashtags_to_tuple() -> None:
    event = make_event(hashtags=["a", "b"])
    assert event.hashtags == ("a", "b")
    assert hash(event) == hash(make_event(hashtags=("a", "b")))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"tweet_id": "x"}, "field 'tweet_id' must be a string of 1 to 19 digits"),
        ({"tweet_id": 1}, "field 'tweet_id' must be a string of 1 to 19 digits"),
        (
            {"created_at": datetime(2026, 11, 21)},
            "field 'created_at' must be a timezone-aware datetime",
        ),
        (
            {"created_at": "2026-11-21T10:15:30Z"},
            "field 'created_at' must be a timezone-aware datetime",
        ),
        ({"user_id": 42}, "field 'user_id' must be a string"),
        ({"followers_count": True}, "field 'followers_count' must be an integer >= 0"),
        ({"favorite_count": -1}, "field 'favorite_count' must be an integer >= 0"),
        ({"retweet_count": 2**63}, "field 'retweet_count' must be below 2^63"),
        ({"lang": 1}, "field 'lang' must be a string"),
        ({"hashtags": "ab"}, "field 'hashtags' must be an array of strings"),
        ({"hashtags": ("a", 1)}, "field 'hashtags' must be an array of strings"),
        ({"source": "kafka"}, "field 'source' must be one of 'synthetic', 'x', 'replay'"),
        ({"text": "\udfff"}, "field 'text' is not valid Unicode (lone surrogate)"),
    ],
)
def test_event_constructor_rejects_what_parse_event_would(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(EventError) as info:
        make_event(**changes)
    assert info.value.reason == reason


def test_event_constructor_rejects_created_at_out_of_range_in_utc() -> None:
    with pytest.raises(EventError, match="out of range"):
        make_event(created_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_rejection_is_a_small_frozen_value() -> None:
    rejection = Rejection("value is empty")
    assert rejection.reason == "value is empty"
    assert rejection == Rejection("value is empty")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rejection.reason = "x"  # type: ignore[misc]


# parse_event has a fast path for plainly valid events (and a reused decoder that skips
# the big-integer hook for short messages); these pin it to the full rules.


def _full_path(value: bytes) -> Event | Rejection:
    """What parse_event decides, the long way: json.loads with the hooks, validate_event."""
    from lambda_common.contract import parse as contract_parse

    try:
        obj = json.loads(
            value.decode("utf-8"),
            parse_constant=contract_parse._reject_constant,
            parse_int=contract_parse._parse_int,
        )
        return validate_event(obj, now=NOW)
    except EventError as e:
        return Rejection(e.reason)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"hashtags": ["a", "b"], "source": "x", "location": " Paris ", "lang": "en"},
        {"text": "caf\u00e9 \U0001f600", "user_name": None, "location": None},
        {"created_at": "2026-11-21T11:15:30.1234567+01:00"},
        {"created_at": "2026-11-21 10:15:60z"},
        {"extra": 10**30, "nested": {"a": [1, 2.5, None]}},
    ],
)
def test_fast_path_gives_the_same_event_as_the_full_rules(changes: dict[str, Any]) -> None:
    value = json.dumps(minimal() | changes, ensure_ascii=False).encode()
    fast = parse_event(value, now=NOW)
    assert isinstance(fast, Event)
    assert fast == _full_path(value)
    assert fast.to_json_bytes() == validate_event(fast.to_dict(), now=NOW).to_json_bytes()


@pytest.mark.parametrize(
    "changes",
    [
        {"followers_count": 2**63},
        {"favorite_count": -(10**25)},
        {"retweet_count": 10**25},
        {"tweet_id": 10**25},
        {"hashtags": ["a", 10**25]},
        {"source": 10**25},
        {"followers_count": True},
        {"created_at": "2026-11-21T14:00:00.000001Z"},
    ],
)
@pytest.mark.parametrize("padding", [0, 5000])
def test_short_and_long_messages_get_the_same_reason(changes: dict[str, Any], padding: int) -> None:
    # Long messages decode with the big-integer hook, short ones without: same outcome.
    value = json.dumps(minimal() | changes | {"pad": "p" * padding}).encode()
    got = parse_event(value, now=NOW)
    assert isinstance(got, Rejection)
    assert got == _full_path(value)


def test_escaped_valid_event_takes_the_full_path_and_is_the_same_event() -> None:
    value = json.dumps(minimal() | {"text": "caf\u00e9"}, ensure_ascii=True).encode()
    assert b"\\u00e9" in value
    event = parse_event(value, now=NOW)
    assert isinstance(event, Event) and event.text == "caf\u00e9"
    assert event == _full_path(value)


# Values the randomised comparison below draws from: each field's valid forms and its
# edge cases (boundaries of counts, tweet_id and user_id lengths, types, nulls).
_USER_ID_CHARS = ["a", "7", "é", "東", "😀", "\u0301", "\x00", " ", '"', "\\"]
_FIELD_VALUES: dict[str, list[Any]] = {
    "tweet_id": ["1", "9" * 19, "1" * 20, "", "12a", 12, None],
    "created_at": [
        "2026-11-21T10:15:30Z",
        "2026-11-21 11:59:59.999999+00:00",
        "2026-11-21T13:00:00Z",  # exactly one hour ahead of NOW: valid
        "2026-11-21T13:00:00.000001Z",  # just over: rejected by the clock
        "2026-11-21",
        "2026-02-30T10:00:00Z",
        None,
    ],
    "followers_count": [0, 1, 2**62, 2**63 - 1, 2**63, -1, 1.0, True, "1", None],
    "favorite_count": [0, 2**63 - 1, 2**63, -(2**63), None],
    "retweet_count": [0, 5, 2**63 - 1, 10**25, False],
    "user_name": ["Ada", "", None, 1],
    "location": [" Paris ", "", "\t", None, "x" * 300, ["Paris"]],
    "lang": ["en", None, 0],
    "text": ["hi 😀", None, {"a": 1}],
    "hashtags": [[], ["a", "b"], None, ["a", 1], "a"],
    "source": ["x", "synthetic", "replay", "X", None, 1],
}


def _random_user_id(rng: random.Random) -> str:
    length = rng.choice([0, 1, 2, 255, 256, 257, 300])
    return "".join(rng.choice(_USER_ID_CHARS) for _ in range(length))


def test_fast_path_and_full_rules_agree_on_random_events() -> None:
    rng = random.Random(14)
    outcomes: dict[str, int] = {"fast-valid": 0, "rejected": 0}
    for _ in range(4000):
        obj: dict[str, Any] = rng.choice([minimal, full])()
        obj["user_id"] = _random_user_id(rng)
        for name in rng.sample(sorted(_FIELD_VALUES), rng.randrange(0, 3)):
            obj[name] = rng.choice(_FIELD_VALUES[name])
        if rng.random() < 0.05:
            del obj[rng.choice(sorted(obj))]
        # Mostly raw UTF-8, which the fast path takes; sometimes \\u escapes, which it leaves.
        value = json.dumps(obj, ensure_ascii=rng.random() < 0.1).encode()
        got = parse_event(value, now=NOW)
        assert got == _full_path(value), obj
        if isinstance(got, Event):
            outcomes["fast-valid"] += b"\\u" not in value
        else:
            outcomes["rejected"] += 1
    # Both outcomes were really compared, many times each.
    assert min(outcomes.values()) > 500, outcomes


# msgspec is the fast path now: it decodes and type-checks a plainly valid event in C,
# and encodes every event, master record and row. These pin it to the full rules (json +
# validate_event) and to the bytes json.dumps wrote, on edge cases and random input.


def _without_fast_path(value: bytes) -> Event | Rejection:
    """parse_event with its msgspec fast path switched off: the full way for every value."""
    from lambda_common.contract import parse as contract_parse

    saved = contract_parse.plain_event_or_none
    contract_parse.plain_event_or_none = lambda *args: None  # type: ignore[assignment]
    try:
        return parse_event(value, now=NOW)
    finally:
        contract_parse.plain_event_or_none = saved


def test_fast_path_and_full_rules_agree_on_randomly_mutated_messages() -> None:
    rng = random.Random(19)
    seeds = [encode(minimal()), encode(full()), encode(full() | {"extra": [1, {"a": None}]})]
    outcomes = {"valid": 0, "rejected": 0}
    for _ in range(6000):
        value = _mutate(rng, rng.choice(seeds))
        got = parse_event(value, now=NOW)
        assert got == _without_fast_path(value), value
        outcomes["valid" if isinstance(got, Event) else "rejected"] += 1
    assert min(outcomes.values()) > 500, outcomes


@pytest.mark.parametrize(
    "value",
    [
        # Duplicate keys: the last one counts, a null one included.
        encode(minimal())[:-1] + b',"tweet_id":"7"}',
        encode(minimal())[:-1] + b',"tweet_id":null}',
        encode(minimal())[:-1] + b',"user_name":"a","user_name":null}',
        b'{"user_id":null,' + encode(minimal())[1:],
        # Numbers a count must not be, and ones it may.
        encode(minimal()).replace(b'"retweet_count":0', b'"retweet_count":-0'),
        encode(minimal()).replace(b'"retweet_count":0', b'"retweet_count":0.0'),
        encode(minimal()).replace(b'"retweet_count":0', b'"retweet_count":9223372036854775807'),
        encode(minimal()).replace(b'"retweet_count":0', b'"retweet_count":9223372036854775808'),
        encode(minimal()).replace(b'"retweet_count":0', b'"retweet_count":' + b"9" * 5000),
        encode(minimal())[:-1] + b',"big":' + b"9" * 5000 + b"}",
        encode(minimal())[:-1] + b',"huge":1e400}',
        # Escapes: pairs are characters, lone surrogates are not (in any field).
        encode(minimal())[:-1] + b',"text":"\\ud83d\\ude00"}',
        encode(minimal())[:-1] + b',"text":"\\ud800"}',
        encode(minimal())[:-1] + b',"unknown":"\\udc00"}',
        encode(minimal())[:-1] + b',"text":"\\ud800\\u0041"}',
        # Whitespace JSON allows, and bytes it does not.
        b" \t\r\n" + encode(minimal()) + b" \n",
        encode(minimal()) + b"\x0c",
        b"\x0b" + encode(minimal()),
        encode(minimal())[:-1] + b',"text":"tab\there"}',
        encode(minimal())[:-1] + b',"text":"del\x7f"}',
        # Sources and hashtags of the wrong kind.
        encode(minimal() | {"source": "X"}),
        encode(minimal() | {"hashtags": {"a": 1}}),
        encode(minimal() | {"hashtags": []}),
    ],
)
def test_fast_path_and_full_rules_agree_on_edge_cases(value: bytes) -> None:
    assert parse_event(value, now=NOW) == _without_fast_path(value)


@pytest.mark.parametrize("depth", [62, 63, 64, 65, 900, 980, 990, 995, 998, 1000, 1010, 3000])
def test_fast_path_and_full_rules_agree_on_deep_nesting(depth: int) -> None:
    value = encode(minimal())[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
    assert parse_event(value, now=NOW) == _without_fast_path(value)


def _general_created_at(value: str) -> datetime:
    """parse_created_at without its fromisoformat shortcut."""
    from lambda_common.contract import event as contract_event

    saved = contract_event.UTC_SHAPE
    contract_event.UTC_SHAPE = re.compile(r"(?!)")  # matches nothing
    try:
        return parse_created_at(value)
    finally:
        contract_event.UTC_SHAPE = saved


def _outcome(parse: Any, value: str) -> object:
    try:
        parsed = parse(value)
    except EventError as e:
        return e.reason
    assert parsed.tzinfo is UTC
    return parsed, parsed.utcoffset(), parsed.isoformat()


def test_created_at_shortcut_and_general_path_agree_on_random_times() -> None:
    rng = random.Random(1911)

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    def field(valid: int, edges: list[str], width: int = 2) -> str:
        # Mostly a value in range, else an edge or any digits.
        if rng.random() < 0.8:
            return f"{rng.randrange(valid):0{width}d}"
        return rng.choice([*edges, digits(width)])

    shortcut = {"valid": 0, "out of range": 0}
    for _ in range(20000):
        year = field(10000, ["0000", "0001", "9999"], 4)
        month, day = field(12, ["00", "12", "13"]), field(29, ["00", "30", "31", "32"])
        hour, minute, second = field(24, ["24"]), field(60, ["60"]), field(60, ["60", "99"])
        fraction = rng.choice(["", ".", "." + digits(3), "." + digits(6), "." + digits(9)])
        sep, zone = rng.choice("TTTt "), rng.choice(["Z", "Z", "z", "+00:00", "-05:30", "+24:00"])
        value = f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{zone}"
        outcome = _outcome(parse_created_at, value)
        assert outcome == _outcome(_general_created_at, value), value
        if _in_utc_shape(value):
            shortcut["out of range" if isinstance(outcome, str) else "valid"] += 1
    # The shortcut's shape was met often, with times it reads and ones it leaves.
    assert min(shortcut.values()) > 500, shortcut


def _in_utc_shape(value: str) -> bool:
    from lambda_common.contract import event as contract_event

    return contract_event.UTC_SHAPE.fullmatch(value) is not None


def test_events_are_encoded_exactly_as_json_dumps_did() -> None:
    # Every code point but the surrogates (no valid event holds one), in every field.
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        text = "".join(chars[start : start + 4096])
        obj = {"s": text, "n": [0, 2**63 - 1, -1], "b": [True, False, None], "d": {"k": text}}
        assert encode_json(obj) == json.dumps(
            obj, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
    rng = random.Random(7)
    for _ in range(500):
        event = make_event(
            tweet_id=str(rng.randrange(1, 10**19)),
            user_id="".join(rng.choice(_USER_ID_CHARS) for _ in range(rng.randrange(1, 40))),
            followers_count=rng.randrange(2**63),
            location=rng.choice([None, "", " K\u00f6ln\t", "\x00\x1f\x7f\u2028"]),
            hashtags=tuple(
                rng.sample(["a", "\u00e9", "\U0001f600", '"q"', "\\"], k=rng.randrange(4))
            ),
            source=rng.choice([None, *SOURCES]),
        )
        old = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
        assert event.to_json_bytes() == old


def test_with_source_changes_only_the_source_and_checks_it() -> None:
    event = parse(full())
    assert isinstance(event, Event)
    replayed = event.with_source("replay")
    assert replayed == dataclasses.replace(event, source="replay")
    assert replayed.source == "replay" and event.source == "synthetic"
    assert hash(replayed) == hash(dataclasses.replace(event, source="replay"))
    with pytest.raises(EventError) as info:
        event.with_source("kafka")
    assert info.value.reason == "field 'source' must be one of 'synthetic', 'x', 'replay'"


def test_without_msgspec_the_standard_library_gives_the_same_outcomes(tmp_path: Path) -> None:
    # A Spark executor's bare Python (spark-submit ships only our code) has no msgspec:
    # the contract then runs on the standard library alone, with the same events, reasons
    # and bytes. -I -S: no site-packages, so no msgspec, as on such an executor.
    rng = random.Random(3)
    seeds = [encode(minimal()), encode(full()), encode(full() | {"text": "\x00\u2028 \U0001f600"})]
    values = [*seeds, *(_mutate(rng, rng.choice(seeds)) for _ in range(300))]
    (tmp_path / "values.json").write_text(json.dumps([v.decode("latin-1") for v in values]))
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from datetime import datetime, UTC;"
        "from lambda_common import contract as c; from lambda_common.contract import event;"
        "assert event.msgspec is None;"
        "values = [v.encode('latin-1') for v in json.load(open(sys.argv[2]))];"
        "now = datetime(2026, 11, 21, 12, tzinfo=UTC);"
        "out = [c.parse_event(v, now=now) for v in values];"
        "print(json.dumps([r.to_json_bytes().decode() if isinstance(r, c.Event) else r.reason"
        " for r in out]))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(REPO), str(tmp_path / "values.json")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    here = [parse_event(v, now=NOW) for v in values]
    expected = [r.to_json_bytes().decode() if isinstance(r, Event) else r.reason for r in here]
    assert json.loads(result.stdout) == expected
    assert sum(isinstance(r, Event) for r in here) > 20


def test_plain_event_is_the_fast_path_alone() -> None:
    value = encode(full())
    event = plain_event(value, now=NOW)
    assert event == parse(full())
    replayed = plain_event(value, now=NOW, source="replay")
    assert isinstance(event, Event) and replayed == event.with_source("replay")
    # Declined, not judged: invalid, too far ahead, not UTF-8, or escaped (yet valid).
    assert plain_event(encode(full() | {"source": "kafka"}), now=NOW, source="replay") is None
    assert plain_event(encode(full()), now=NOW - timedelta(hours=3)) is None
    assert plain_event(b"\xff" + value, now=NOW) is None
    escaped = json.dumps(full(), ensure_ascii=True).encode()
    assert plain_event(escaped, now=NOW) is None and isinstance(
        parse_event(escaped, now=NOW), Event
    )
    with pytest.raises(EventError):
        plain_event(value, now=NOW, source="kafka")


def test_the_fast_path_knows_every_field_of_the_event() -> None:
    # The msgspec sieve names the event's fields as its JSON has them (a field of Event
    # it lacked would be left unset on the fast path's Events), in the order to_dict
    # writes them (lambda_common.contract.wire encodes it as the Event's own JSON).
    from lambda_common.contract import fast as contract_fast

    fields = contract_fast.PLAIN_DECODER.type.__struct_fields__
    assert sorted(fields) == sorted(Event.__dataclass_fields__)
    every = parse(full())
    assert isinstance(every, Event)
    assert fields == tuple(every.to_dict())


def test_no_key_ends_in_whitespace_after_the_cut() -> None:
    """Contract version 3: every key is trimmed again after its cut (Redshift's VARCHAR
    comparison ignores trailing spaces, so keys differing only there would merge)."""
    assert normalize_lang("e" * 34 + " x") == "e" * 34
    assert normalize_lang("  EN ") == "en"
    for raw in ("x" * 199 + " y", "x" * 200, " " + "y" * 250):
        key = normalize_location(raw)
        assert key == key.strip() and len(key) <= 200
