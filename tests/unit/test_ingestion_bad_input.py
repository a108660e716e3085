"""Producers never crash on a bad line or object (issue 14): the X mapping, the replay and
the live X stream, on the shapes reported and on random damage to valid input."""

from __future__ import annotations

import dataclasses
import logging
import random
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from ingestion import cli, replay
from ingestion.producer import Stats
from ingestion.replay import BadLine, parse_lines
from ingestion.xapi import XReject, parse_message, parse_payload
from lambda_common.contract import Event, parse_event

from .ingestion_mutations import (
    HUGE_INT,
    TOO_DEEP,
    JSONPath,
    contract_seeds,
    mutate,
    mutated_lines,
    serialise,
    x_seeds,
)

NOW = datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
# A reader clock past every created_at, for checking events against the contract.
LAST_DAY = datetime(9999, 12, 30, tzinfo=UTC)


def _stream_tweet(**data: object) -> dict[str, Any]:
    payload = x_seeds()[0]
    payload["data"] |= data
    return payload


def _with_author(**author: object) -> dict[str, Any]:
    payload = x_seeds()[0]
    payload["includes"]["users"][0] |= author
    return payload


def _reason(result: list[Event] | XReject) -> str:
    assert isinstance(result, XReject), result
    return str(result)


def _check_reason(reason: str) -> None:
    """A reason is one short line that cannot forge or break a log line."""
    assert reason
    assert reason.isprintable(), repr(reason)  # no newline, control or lone surrogate
    assert len(reason) < 600


# --- the shapes reported, and their kin ---------------------------------------------------

BARE = {"id": "1", "author_id": "2", "created_at": "2026-11-21T10:00:00Z"}

REPORTED = [
    (BARE | {"author": {"public_metrics": 5}}, "tweet 1: author.public_metrics must be an object"),
    (
        x_seeds()[0] | {"includes": {"users": 5}},
        "tweet 1859540000000000001: includes.users must be an array, not a number",
    ),
    (
        _stream_tweet(entities=[1]),
        "tweet 1859540000000000001: entities must be an object, not an array",
    ),
    (
        _stream_tweet(public_metrics="x"),
        "tweet 1859540000000000001: public_metrics must be an object, not a string",
    ),
]

KIN = [
    (_stream_tweet(id=1859540000000000001), "unknown id: id must be a string, not a number"),
    (_stream_tweet(id=None), "unknown id: tweet lacks 'id'"),
    (_stream_tweet(author_id=["2244994945"]), "author_id must be a string, not an array"),
    (_stream_tweet(created_at=None), "tweet lacks 'created_at'"),
    (_stream_tweet(created_at=1763720130), "created_at must be a string, not a number"),
    (_stream_tweet(entities={"hashtags": {"tag": "x"}}), "entities.hashtags must be an array"),
    (_stream_tweet(entities={"hashtags": [[{"tag": "x"}]]}), "hashtags[0] must be an object"),
    (_stream_tweet(entities={"hashtags": [{"tag": None}]}), "hashtags[0].tag is missing or null"),
    (_stream_tweet(public_metrics={"like_count": 2**64}), "'favorite_count' must be below 2^63"),
    (_stream_tweet(public_metrics={"like_count": -1}), "'favorite_count' must be an integer >= 0"),
    (_stream_tweet(public_metrics={"retweet_count": "3"}), "'retweet_count' must be an integer"),
    (_stream_tweet(text={"a": 1}), "field 'text' must be a string"),
    (_with_author(public_metrics=None), "author has no public_metrics.followers_count"),
    (_with_author(public_metrics={"followers_count": 1.0}), "'followers_count' must be an integer"),
    (_with_author(public_metrics={"followers_count": 10**40}), "'followers_count' must be below"),
    (_with_author(username=["XDevelopers"]), "field 'user_name' must be a string"),
    (x_seeds()[0] | {"includes": [{"users": []}]}, "includes must be an object, not an array"),
    (x_seeds()[0] | {"includes": {"users": [None]}}, "includes.users[0] is missing or null"),
    (x_seeds()[0] | {"includes": {"users": [{"id": 7}]}}, "includes.users[0].id must be a string"),
    (x_seeds()[0] | {"data": "1859540000000000001"}, "unknown id: data must be an object or an"),
    (x_seeds()[0] | {"data": []}, "unknown id: no tweet in payload"),
    (x_seeds()[0] | {"data": None}, "unknown id: no tweet in payload"),
    (x_seeds()[1] | {"data": [x_seeds()[1]["data"][0], 5]}, "unknown id: data[1] must be an obj"),
    (BARE, "tweet 1: author 2 not in includes.users (expansion author_id)"),
    (BARE | {"author": "ana"}, "tweet 1: author must be an object, not a string"),
    ({"errors": [{"title": "t\nforged"}]}, "unknown id: no tweet in payload: 't\\nforged'"),
    ({"errors": "x" * 10_000}, "unknown id: no tweet in payload"),
]


@pytest.mark.parametrize(("payload", "reason"), REPORTED + KIN)
def test_malformed_x_object_is_a_reason_not_an_exception(payload: object, reason: str) -> None:
    got = _reason(parse_payload(payload))
    assert reason in got
    _check_reason(got)


@pytest.mark.parametrize("payload", [None, 5, "data", [x_seeds()[0]], [], True])
def test_x_payload_that_is_not_an_object_is_a_reason(payload: object) -> None:
    assert _reason(parse_payload(payload)).startswith("unknown id: payload must be an object")


def test_an_id_in_a_reason_cannot_forge_a_log_line() -> None:
    reason = _reason(parse_payload(_stream_tweet(id="12\nERROR forged", author_id="x")))
    assert reason.startswith("tweet '12\\nERROR forged': ")
    long_id = _reason(parse_payload(_stream_tweet(id="9" * 500)))
    assert long_id.startswith("tweet '" + "9" * 40 + "'...: ")


def test_null_is_absent_in_x_objects_as_in_the_contract() -> None:
    payload = _stream_tweet(
        lang=None, entities=None, public_metrics={"like_count": None, "retweet_count": 4}
    )
    payload["includes"]["users"][0]["location"] = None
    (event,) = _events(payload | {"matching_rules": None})
    assert (event.lang, event.hashtags, event.favorite_count, event.retweet_count) == (
        None,
        (),
        0,
        4,
    )
    assert event.location is None


def _events(payload: object) -> list[Event]:
    result = parse_payload(payload)
    assert isinstance(result, list), result
    return result


def test_the_reported_replay_lines_are_skipped_with_their_numbers() -> None:
    valid = [serialise(x_seeds()[0]), serialise(contract_seeds()[0])]
    lines = [valid[0], *(serialise(p) for p, _ in REPORTED), valid[1]]
    out = list(parse_lines(lines, now=NOW))
    assert [type(o) for o in out] == [Event, BadLine, BadLine, BadLine, BadLine, Event]
    for item, (_, reason) in zip(out[1:5], REPORTED, strict=True):
        assert isinstance(item, BadLine)
        assert reason in item.reason
    assert [o.line_number for o in out if isinstance(o, BadLine)] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (serialise(x_seeds()[0]).replace(b"583214", b"9" * 5000), "not valid JSON: Exceeds"),
        (b'{"data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "not valid JSON: nested too deeply"),
        (b"[" * 50_000, "not valid JSON: nested too deeply"),
        (b"\xff" + serialise(x_seeds()[0]), "not valid UTF-8"),
        (b"[]", "not a JSON object"),
    ],
)
def test_undecodable_line_or_message_is_a_reason(line: bytes, reason: str) -> None:
    (bad,) = parse_lines([line], now=NOW)
    assert isinstance(bad, BadLine)
    assert bad.reason.startswith(reason)
    assert str(parse_message(line)) == f"unknown id: {bad.reason}"


# --- random damage --------------------------------------------------------------------


NONE = type(None)
# What the X mapping reads, by path ("*" for any array index), with the JSON types it
# takes there; None: read, but whether a value is refused depends on more than its type.
# A damaged path outside READ must leave the events as they were; at a path with types,
# a value of another type must be refused.
_TWEET: dict[str, tuple[type, ...] | None] = {
    "id": (str,),
    "author_id": (str,),
    "created_at": (str,),
    "lang": (str, NONE),
    "text": (str, NONE),
    "public_metrics": (dict, NONE),
    "public_metrics.like_count": (int, NONE),
    "public_metrics.retweet_count": (int, NONE),
    "entities": (dict, NONE),
    "entities.hashtags": (list, NONE),
    "entities.hashtags.*": (dict,),
    "entities.hashtags.*.tag": (str,),
}
_AUTHOR: dict[str, tuple[type, ...] | None] = {
    "": (dict,),
    "username": (str, NONE),
    "location": (str, NONE),
    "public_metrics": (dict,),
    "public_metrics.followers_count": (int,),
}
READ: dict[str, tuple[type, ...] | None] = {
    "": (dict,),
    "data": (dict, list),
    "data.*": (dict,),
    "includes": (dict, NONE),
    "includes.users": (list, NONE),
    "includes.users.*": (dict,),
    "includes.users.*.id": (str,),
    # Every seed's tweets are read; only authors among the users (a mention is not).
    **{
        prefix + name: kinds
        for prefix in ("data.", "data.*.", "")
        for name, kinds in _TWEET.items()
    },
    **{f"includes.users.*.{name}": None for name in _AUTHOR if name},
    **{f"author.{name}".rstrip("."): kinds for name, kinds in _AUTHOR.items()},
}


def _pattern(path: JSONPath) -> str:
    return ".".join("*" if isinstance(key, int) else key for key in path)


def _fits(value: object, kinds: tuple[type, ...]) -> bool:
    return type(value) in kinds  # exact: a JSON boolean is not a number


def test_x_mapping_never_raises_on_damaged_objects() -> None:
    rng = random.Random(20261201)
    seeds = x_seeds()
    expected = [_events(seed) for seed in seeds]
    outcomes = {"events": 0, "reject": 0, "ignored": 0, "refused": 0}
    for _ in range(4000):
        index = rng.randrange(len(seeds))
        single = rng.random() < 0.6
        damaged, done = mutate(rng, seeds[index], 1 if single else rng.randrange(2, 6))
        result = parse_payload(damaged)
        if isinstance(result, XReject):
            outcomes["reject"] += 1
            _check_reason(str(result))
        else:
            outcomes["events"] += 1
            assert result, damaged
            for event in result:
                # A valid contract event: what consumers read back is the same event.
                assert parse_event(event.to_json_bytes(), now=LAST_DAY) == event
                assert event.source == "x"
        if not single:
            continue
        (mutation,) = done
        pattern = _pattern(mutation.path)
        if mutation.op == "add" or pattern not in READ:
            outcomes["ignored"] += 1
            assert result == expected[index], mutation
        kinds = READ.get(pattern)
        # Dropping an array item leaves the array's items of the right type.
        shrunk = mutation.op == "drop" and isinstance(mutation.path[-1], int)
        if kinds is not None and mutation.op != "add" and not shrunk:
            value = None if mutation.op == "drop" else mutation.value
            if not _fits(value, kinds):
                outcomes["refused"] += 1
                assert isinstance(result, XReject), mutation
    # The damage must reach every outcome often, or the test proves little.
    assert min(outcomes.values()) > 200, outcomes


def test_replay_never_raises_and_replays_exactly_the_valid_lines() -> None:
    rng = random.Random(14)
    valid = {
        serialise(seed): [dataclasses.replace(e, source="replay") for e in _events(seed)]
        for seed in x_seeds()
    }
    for seed in contract_seeds():
        event = parse_event(serialise(seed), now=NOW)
        assert isinstance(event, Event)
        valid[serialise(seed)] = [dataclasses.replace(event, source="replay")]
    damaged = mutated_lines(rng, 3000)
    damaged += [serialise(x_seeds()[0] | {"data": HUGE_INT}), serialise({"x": TOO_DEEP})]
    lines = [*damaged, *valid]
    rng.shuffle(lines)

    out = list(parse_lines([*lines, b"", b"  \t"], now=NOW))

    # Each line on its own gives its valid events or one reason, and the file is exactly
    # its lines one after the other: nothing lost, nothing stops the rest.
    expected: list[Event | BadLine] = []
    for number, line in enumerate(lines, start=1):
        alone = list(parse_lines([line], now=NOW))
        if line in valid:
            assert alone == valid[line]
        elif isinstance(alone[0], BadLine):
            (bad,) = alone
            _check_reason(bad.reason)
        for item in alone:
            if isinstance(item, Event):
                assert item.source == "replay"
                assert parse_event(item.to_json_bytes(), now=NOW) == item
        expected += [BadLine(number, o.reason) if isinstance(o, BadLine) else o for o in alone]
    assert out == expected
    bad_lines = sum(isinstance(o, BadLine) for o in out)
    assert 2000 < bad_lines < len(damaged)  # most damage breaks a line; some is harmless


# --- the live stream, through tweepy's own read loop ---------------------------------------


class _FakeResponse:
    """What ``requests`` hands tweepy for one stream connection: ``lines``, then EOF."""

    status_code = 200

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.raw = SimpleNamespace(closed=False)

    def __enter__(self) -> _FakeResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_lines(self, chunk_size: int) -> Iterator[bytes]:
        yield from self.lines


class _FakeSession:
    """Stands in for ``requests.Session`` under tweepy's real ``_connect`` loop."""

    def __init__(self, lines: list[bytes]) -> None:
        self.headers: dict[str, str] = {}
        self.lines = lines
        self.connections = 0

    def request(self, *args: object, **kwargs: object) -> _FakeResponse:
        self.connections += 1
        if self.connections > 1:
            # Only a stream that was not stopped reconnects: end it (tweepy's on_exception)
            # rather than loop, and let the test's asserts say what went wrong.
            raise RuntimeError("the stream reconnected")
        return _FakeResponse(self.lines)

    def close(self) -> None:
        pass


class _FakeProducer:
    """The CLI's producer without Kafka: it keeps what it is given."""

    def __init__(self) -> None:
        self.stats = Stats()
        self.sent: list[Event] = []

    def send(self, event: Event) -> None:
        self.sent.append(event)
        self.stats.sent += 1

    def close(self) -> None:
        self.stats.delivered = self.stats.sent


@pytest.fixture
def sigterm() -> Iterator[None]:
    """The x source installs a SIGTERM handler; put the test runner's back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def test_live_stream_skips_bad_payloads_and_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    sigterm: None,
) -> None:
    rng = random.Random(7)
    good = [x_seeds()[0], x_seeds()[1], _stream_tweet(id="1859540000000000002")]
    bad: list[bytes] = [serialise(payload) for payload, _ in REPORTED]
    bad += [b"{not json", b"[" * 50_000, b"\xff", b"5", serialise({"errors": [{"title": "t"}]})]
    bad += [line for line in mutated_lines(rng, 400) if isinstance(parse_message(line), XReject)]
    messages = [*bad[: len(bad) // 2], serialise(good[0]), b"", *bad[len(bad) // 2 :]]
    messages += [serialise(good[1]), serialise(good[2])]  # the last one ends the run
    expected = [e for payload in good for e in _events(payload)]

    session = _FakeSession(messages)
    producers: list[_FakeProducer] = []

    def producer(settings: object, topic: str | None = None) -> _FakeProducer:
        producers.append(_FakeProducer())
        return producers[-1]

    monkeypatch.setattr("tweepy.streaming.requests.Session", lambda: session)
    monkeypatch.setattr("ingestion.xapi.XStream.sync_rules", lambda self: None)
    monkeypatch.setattr(cli, "open_producer", producer)
    monkeypatch.setenv("X_BEARER_TOKEN", "test-token")
    caplog.set_level(logging.WARNING, logger="ingestion.cli")

    count = str(len(expected))
    assert cli.main(["--source", "x", "--count", count]) == 0

    (made,) = producers
    assert session.connections == 1  # stopped by --count, not ended by an exception
    assert made.sent == expected
    skipped = [r.getMessage() for r in caplog.records if "X payload skipped" in r.getMessage()]
    assert len(skipped) == len(bad) == made.stats.bad_input
    for message, (_, reason) in zip(skipped, REPORTED, strict=False):
        assert message.startswith("X payload skipped: tweet ") and reason in message
    assert all(
        m.startswith(("X payload skipped: tweet ", "X payload skipped: unknown id: "))
        for m in skipped
    )
    summary = capsys.readouterr().err
    assert f"done: sent {len(expected)} events" in summary
    assert f"bad input {len(bad):,}" in summary


def test_bare_tweet_with_an_embedded_author_maps_to_the_contract() -> None:
    (event,) = _events(x_seeds()[3])
    assert event == Event(
        tweet_id="1859545555555555555",
        created_at=datetime(2026, 11, 21, 7, 0, tzinfo=UTC),
        user_id="31",
        user_name="b",
        followers_count=8,
        favorite_count=3,
        retweet_count=1,
        location="Köln",
        lang="de",
        text="exported #one",
        hashtags=("one",),
        source="x",
    )


def test_replay_fast_path_gives_what_the_full_check_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lines shorter than 4,000 bytes try the contract's fast path first; with it off,
    # every line goes the full way (decode_object, then validate_event or the X mapping).
    # Both must give the same events and the same reasons, line for line.
    rng = random.Random(19)
    lines = mutated_lines(rng, 3000) + [serialise(seed) for seed in contract_seeds()]
    lines += [serialise(seed | {"extra": float("nan")}) for seed in contract_seeds()]
    lines += [serialise(seed | {"source": "kafka"}) for seed in contract_seeds()]
    lines += [serialise(seed | {"pad": "p" * 5000}) for seed in contract_seeds()]
    lines += [serialise(seed) for seed in x_seeds()]
    fast = list(parse_lines(lines, now=NOW))
    monkeypatch.setattr(replay, "_PLAIN_LINE_BYTES", 0)
    assert list(parse_lines(lines, now=NOW)) == fast
    assert sum(isinstance(item, Event) for item in fast) > 300
