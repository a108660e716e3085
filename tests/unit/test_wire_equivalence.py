"""The producers' C-speed path (lambda_common.contract.wire) sends the very bytes the Event's way
sends, line for line: replay on thousands of seeded hostile lines, synthetic on every
kind of run, and hostile field values; through the CLI and the confluent producer too.

The references are today's ways, kept callable here: the replay's full way (decode the
line, ``validate_event`` or the X mapping, ``with_source``, ``Event.to_json_bytes``) and
the synthetic generator as it built each Event before the Struct path.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ingestion import cli, producer_confluent
from ingestion import producer as producer_module
from ingestion.jsonline import Undecodable, decode_object
from ingestion.replay import BadLine, parse_lines, replay_messages
from ingestion.synthetic import (
    AUTHORS,
    HASHTAGS,
    LANGS,
    WORDS,
    SyntheticOptions,
    SyntheticTweets,
    _authors,
    _Draw,
    _power_law_cum_weights,
)
from ingestion.xapi import XReject, looks_like_x_payload, parse_payload
from lambda_common.contract import Event, EventError, validate_event
from lambda_common.contract.wire import WireMessage, event_message, wire_message

from .hostile_events import NOW, REASONS, TEXTS, hostile_values
from .ingestion_mutations import mutated_lines, serialise, x_seeds

Sent = tuple[bytes, bytes]


# --- today's ways, the references ---------------------------------------------------------


def _sent(event: Event) -> Sent:
    """What the Event's way sends: the key, and the value as json.dumps would write it
    (the contract's own statement of the bytes, and Event.to_json_bytes checked by it)."""
    value = json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
    assert value == event.to_json_bytes()
    return event.tweet_id.encode(), value


def reference_replay(lines: Iterable[bytes], now: datetime) -> list[Sent | BadLine]:
    """The replay the full way only, for every line: what the fast path must equal."""
    out: list[Sent | BadLine] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        obj = decode_object(raw)
        if isinstance(obj, Undecodable):
            out.append(BadLine(number, obj.reason))
            continue
        if looks_like_x_payload(obj):
            events = parse_payload(obj)
            if isinstance(events, XReject):
                out.append(BadLine(number, str(events)))
                continue
        else:
            try:
                events = [validate_event(obj, now=now)]
            except EventError as e:
                out.append(BadLine(number, e.reason))
                continue
        out += [_sent(e.with_source("replay")) for e in events]
    return out


def reference_synthetic(o: SyntheticOptions, clock: Any = None) -> Iterator[Event]:
    """The synthetic generator as it was before the Struct path: an Event per tweet, built
    as it is drawn, and a duplicate re-built from the Event it copies."""
    clock = clock or (lambda: datetime.now(UTC))
    rng = random.Random(o.seed)
    authors = _authors(rng)
    author = _Draw(rng, _power_law_cum_weights(AUTHORS, 0.9))
    lang = _Draw(rng, list(itertools.accumulate(w for _, w in LANGS)))
    history: deque[Event] = deque(maxlen=5_000)
    span = (o.max_lateness - o.min_lateness).total_seconds()
    window = (o.end - o.start) if o.start is not None and o.end is not None else None
    duplicates = late = new = 0
    for i in itertools.count() if o.count == 0 else range(o.count):
        if int((i + 1) * o.duplicate_fraction + 1e-9) > duplicates and history:
            duplicates += 1
            first = rng.choice(history)
            yield Event(
                tweet_id=first.tweet_id,
                created_at=first.created_at,
                user_id=first.user_id,
                user_name=first.user_name,
                followers_count=first.followers_count,
                favorite_count=first.favorite_count + rng.randrange(1, 50),
                retweet_count=first.retweet_count + rng.randrange(0, 10),
                location=first.location,
                lang=first.lang,
                text=first.text,
                hashtags=first.hashtags,
                source="synthetic",
            )
            continue
        created = o.start + window * (i / o.count) if window and o.start else clock()
        new += 1
        if int(new * o.late_fraction + 1e-9) > late:
            late += 1
            created -= o.min_lateness + timedelta(seconds=rng.random() * span)
        who = authors[author()]
        tags = tuple(rng.sample(HASHTAGS, rng.choice((0, 0, 0, 1, 1, 2, 3))))
        text = " ".join(rng.choices(WORDS, k=6)) + "".join(f" #{t}" for t in tags)
        event = Event(
            tweet_id=str(1_000_000_000_000_000_000 + rng.getrandbits(61)),
            created_at=created,
            user_id=who.user_id,
            user_name=who.user_name,
            followers_count=who.followers_count,
            favorite_count=int(rng.paretovariate(1.3)) - 1,
            retweet_count=int(rng.paretovariate(1.6)) - 1,
            location=who.location,
            lang=LANGS[lang()][0],
            text=text,
            hashtags=tags,
            source="synthetic",
        )
        history.append(event)
        yield event


def _as_sent(items: Iterable[WireMessage | Event | BadLine]) -> list[Sent | BadLine]:
    return [
        item
        if isinstance(item, BadLine)
        else (item.key, item.value)
        if isinstance(item, WireMessage)
        else _sent(item)
        for item in items
    ]


# --- replay --------------------------------------------------------------------------------


def _replay_corpus() -> list[bytes]:
    lines = list(hostile_values(seed=32, count=6000))
    lines += [serialise(seed) for seed in x_seeds()]
    lines += mutated_lines(random.Random(32), 600)
    lines += [b"", b" \t", b"\n"]
    random.Random(33).shuffle(lines)
    return lines


def test_replay_sends_the_bytes_of_the_full_way_on_every_hostile_line() -> None:
    lines = _replay_corpus()
    fast = list(replay_messages(lines, now=NOW))
    expected = reference_replay(lines, NOW)
    assert _as_sent(fast) == expected
    # ... and of the Event's way, the fast path's Events included.
    assert _as_sent(parse_lines(lines, now=NOW)) == expected
    # The corpus reaches both ways, and every reason of the contract.
    taken = sum(isinstance(item, WireMessage) for item in fast)
    events = sum(isinstance(item, Event) for item in fast)
    assert taken > 800 and events > 300, (taken, events)
    reasons = {r for item in fast if isinstance(item, BadLine) for r in REASONS if r in item.reason}
    assert reasons == set(REASONS)


def test_a_line_by_line_equivalence_names_the_line_that_differs() -> None:
    # The same, one line at a time, so a failure shows the very line.
    for line in _replay_corpus()[:3000]:
        if not line.strip():
            continue
        message = wire_message(line, now=NOW, source="replay")
        if message is None:
            continue  # the full way's, compared above
        (expected,) = reference_replay([line], NOW)
        assert (message.key, message.value) == expected, line


@pytest.mark.parametrize(
    "clock", [NOW, NOW - timedelta(days=400), datetime(1, 1, 1, 2, tzinfo=UTC)], ids=str
)
def test_the_clock_judges_alike(clock: datetime) -> None:
    lines = list(hostile_values(seed=7, count=800))
    assert _as_sent(replay_messages(lines, now=clock)) == reference_replay(lines, clock)


# --- synthetic -----------------------------------------------------------------------------

START = datetime(2026, 11, 14, tzinfo=UTC)
END = datetime(2026, 11, 21, tzinfo=UTC)
OFFSET = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize(
    "options",
    [
        SyntheticOptions(seed=1, count=20_000, start=START, end=END),
        SyntheticOptions(
            seed=2, count=5_000, start=START, end=END, duplicate_fraction=0.5, late_fraction=0.3
        ),
        SyntheticOptions(
            seed=3,
            count=3_000,
            start=datetime(1, 1, 1, 6, tzinfo=OFFSET),
            end=datetime(1, 1, 2, tzinfo=OFFSET),
            duplicate_fraction=0.1,
        ),
        # Late events before year 1: the run stops at the first, with the Event's error.
        SyntheticOptions(
            seed=5,
            count=3_000,
            start=datetime(1, 1, 1, 6, tzinfo=UTC),
            end=datetime(1, 1, 2, tzinfo=UTC),
            late_fraction=0.001,
        ),
        SyntheticOptions(
            seed=4,
            count=2_000,
            start=datetime(999, 12, 31, 23, tzinfo=UTC),
            end=datetime(1000, 1, 1, 1, tzinfo=UTC),
        ),
    ],
    ids=["backfill", "duplicates-late", "year-0001-offset", "before-year-0001", "year-0999"],
)
def test_synthetic_messages_are_the_events_bytes(options: SyntheticOptions) -> None:
    source = SyntheticTweets(options)
    expected = _run([_sent(e) for e in reference_synthetic(options)])
    assert _run((m.key, m.value) for m in source.messages()) == expected
    assert _run(_sent(e) for e in source) == expected
    assert len(expected[0]) > options.count // 2


def _run(sent: Iterable[Sent]) -> tuple[list[Sent], str | None]:
    """What a run sends until it ends, and the error that ended it (None: it finished)."""
    out: list[Sent] = []
    try:
        for item in sent:
            out.append(item)
    except EventError as e:
        return out, e.reason
    return out, None


def test_synthetic_live_stream_with_microsecond_clocks() -> None:
    # A live stream carries the clock: sub-millisecond times are written with 6 digits.
    ticks = [NOW + timedelta(microseconds=n * 1_337) for n in range(3_000)]
    options = SyntheticOptions(seed=9, count=3_000, duplicate_fraction=0.2)
    got = list(SyntheticTweets(options, clock=iter(ticks).__next__).messages())
    expected = reference_synthetic(options, iter(ticks).__next__)
    assert [(m.key, m.value) for m in got] == [_sent(e) for e in expected]


# Per field: values an Event takes (first) and values it refuses or a writer chokes on.
_FIELD_VALUES: dict[str, tuple[list[Any], list[Any]]] = {
    "tweet_id": (["1", "9" * 19, "0"], ["9" * 20, "", "٣", " 1", 5]),
    "created_at": (
        [
            NOW,
            NOW.replace(microsecond=123_456),
            NOW.replace(microsecond=123_000),
            NOW.astimezone(OFFSET),
            datetime(1, 1, 1, 6, tzinfo=OFFSET),
            datetime(9999, 12, 31, 21, tzinfo=timezone(-timedelta(hours=2))),
            datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
            NOW + timedelta(days=400),  # no clock judges a producer's event
        ],
        [
            NOW.replace(tzinfo=None),
            datetime(1, 1, 1, tzinfo=OFFSET),
            datetime(9999, 12, 31, 23, tzinfo=timezone(-timedelta(hours=2))),
            "2026-11-21T10:00:00Z",
        ],
    ),
    "user_id": (["u", "x" * 256, "👋" * 256, "nul\x00", " "], ["", "x" * 257, "\ud800", 7]),
    "followers_count": ([0, 2**63 - 1, 2**53 + 1], [2**63, -1, True, 1.0, "5"]),
    "favorite_count": ([0, 5], [-1]),
    "retweet_count": ([0, 2**63 - 1], [2**64]),
    "hashtags": ([(), ("a",), ["a", "b"], ("",), ("\x00", "#A", "a")], [("a", None), "abc", (1,)]),
    "source": ([None, "synthetic", "x", "replay"], ["kafka", "", 1]),
}
for _name in ("user_name", "location", "lang", "text"):
    _FIELD_VALUES[_name] = (
        [None, *[t for t in TEXTS if not ("\ud800" in t or "\udfff" in t)]],
        [5, ["t"]],
    )


def _hostile_fields(rng: random.Random) -> dict[str, Any]:
    """An Event's fields, each valid, then zero to two made hostile."""
    fields = {name: rng.choice(good) for name, (good, _) in _FIELD_VALUES.items()}
    for name in rng.sample(sorted(_FIELD_VALUES), rng.choice([0, 0, 1, 2])):
        fields[name] = rng.choice(_FIELD_VALUES[name][1])
    # Surrogates, in any text field, now and then.
    if rng.random() < 0.05:
        fields[rng.choice(["user_name", "location", "lang", "text"])] = "lone \udfff"
    return fields


def test_a_struct_of_hostile_fields_is_sent_only_as_the_event_would_be() -> None:
    rng = random.Random(32)
    outcomes = {"struct": 0, "declined": 0, "refused": 0}
    for _ in range(20_000):
        fields = _hostile_fields(rng)
        message = event_message(**fields)
        try:
            event = Event(**fields)
        except EventError:
            event = None
        if message is not None:
            # Nothing unchecked: what the Struct path sends, the Event would have sent.
            assert event is not None, fields
            assert (message.key, message.value) == _sent(event), fields
            outcomes["struct"] += 1
        else:
            outcomes["declined" if event is not None else "refused"] += 1
    assert min(outcomes.values()) > 2000, outcomes


# --- through the CLI and the confluent producer --------------------------------------------


class _Recorder:
    """librdkafka's producer as the CLI uses it, keeping what it is given."""

    made: ClassVar[list[_Recorder]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.produced: list[Sent] = []
        self.polls = 0
        _Recorder.made.append(self)

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        self.produced.append((key, value))

    def poll(self, timeout: float = -1) -> int:
        self.polls += 1
        return 0

    def flush(self, timeout: float = -1) -> int:
        return 0

    def close(self) -> bool:
        return True


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[_Recorder]]:
    _Recorder.made = []
    monkeypatch.setattr(producer_module, "ensure_topic", lambda *a, **k: True)
    monkeypatch.setattr(producer_confluent, "Producer", _Recorder)
    monkeypatch.setenv("KAFKA_CLIENT", "confluent")
    yield _Recorder.made


def test_the_cli_replays_the_bytes_of_the_full_way(
    recorder: list[_Recorder], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fixed clock: the replay judges future times against it, as the reference does.
    monkeypatch.setattr("ingestion.replay.datetime", _FixedClock)
    lines = _replay_corpus()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    with path.open("rb") as handle:
        expected = [s for s in reference_replay(handle, NOW) if not isinstance(s, BadLine)]
    assert cli.main(["--source", "replay", "--file", str(path)]) == 0
    (made,) = recorder
    assert made.produced == expected
    assert made.polls == len(expected) // producer_confluent.POLL_EVERY


def test_the_cli_sends_the_synthetic_events_bytes(recorder: list[_Recorder]) -> None:
    argv = ["--count", "4000", "--seed", "5", "--start", "2026-11-14T00:00:00Z"]
    assert cli.main([*argv, "--end", "2026-11-21T00:00:00Z", "--duplicates", "0.1"]) == 0
    options = SyntheticOptions(seed=5, count=4000, start=START, end=END, duplicate_fraction=0.1)
    (made,) = recorder
    assert made.produced == [_sent(e) for e in reference_synthetic(options)]


class _FixedClock(datetime):
    """``datetime`` whose ``now`` is the tests' reader clock."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW
