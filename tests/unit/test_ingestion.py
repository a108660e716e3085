"""Producers' pure logic: synthetic generation, X payload mapping, replay parsing."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ingestion import cli
from ingestion import producer as producer_module
from ingestion.parallel import shard_options
from ingestion.producer import EventProducer, Stats, process_started, produce, startup_s
from ingestion.replay import BadLine, parse_lines
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from ingestion.xapi import XReject, looks_like_x_payload, parse_payload
from lambda_common.contract import UNKNOWN_LOCATION, Event, parse_event
from lambda_common.contract.wire import WireMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
START = datetime(2026, 11, 14, tzinfo=UTC)
END = datetime(2026, 11, 21, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 13, 0, tzinfo=UTC)


def _backfill(seed: int = 7, count: int = 5000, **kw: float) -> SyntheticOptions:
    return SyntheticOptions(seed=seed, count=count, start=START, end=END, **kw)  # type: ignore[arg-type]


def _bytes(options: SyntheticOptions) -> list[bytes]:
    return [e.to_json_bytes() for e in SyntheticTweets(options)]


def test_same_seed_same_bytes_other_seed_other_events() -> None:
    assert _bytes(_backfill(seed=7)) == _bytes(_backfill(seed=7))
    assert set(_bytes(_backfill(seed=7))).isdisjoint(_bytes(_backfill(seed=8)))


def test_every_synthetic_event_is_valid_on_the_wire() -> None:
    for raw in _bytes(_backfill(duplicate_fraction=0.1, late_fraction=0.1)):
        obj = json.loads(raw)
        assert (
            isinstance(obj["tweet_id"], str)
            and obj["tweet_id"].isdigit()
            and len(obj["tweet_id"]) <= 19
        )
        assert isinstance(obj["created_at"], str) and obj["created_at"].endswith("Z")
        assert isinstance(obj["user_id"], str)
        for count in ("followers_count", "favorite_count", "retweet_count"):
            assert type(obj[count]) is int and 0 <= obj[count] < 2**63
        for text in ("user_name", "lang", "text"):
            assert isinstance(obj[text], str)
        assert obj.get("location") is None or isinstance(obj["location"], str)
        assert all(isinstance(tag, str) for tag in obj.get("hashtags", []))
        assert obj["source"] == "synthetic"
        assert isinstance(parse_event(raw, now=NOW), Event), raw


def test_backfill_window_is_covered_and_respected() -> None:
    events = list(SyntheticTweets(_backfill(count=1000)))
    times = [e.created_at for e in events]
    assert min(times) == START
    assert max(times) < END
    assert max(times) - min(times) > timedelta(days=6)


@pytest.mark.parametrize(("fraction", "count"), [(0.05, 10_000), (0.2, 3_000), (0.0, 1_000)])
def test_duplicate_fraction_is_exact(fraction: float, count: int) -> None:
    source = SyntheticTweets(_backfill(count=count, duplicate_fraction=fraction))
    events = list(source)
    repeats = sum(n - 1 for n in Counter(e.tweet_id for e in events).values())
    assert repeats == source.duplicates
    assert abs(repeats - count * fraction) <= 1
    first: dict[str, Event] = {}
    for e in events:  # a duplicate re-captures the same tweet with higher counts
        if e.tweet_id in first:
            assert (e.created_at, e.user_id) == (
                first[e.tweet_id].created_at,
                first[e.tweet_id].user_id,
            )
            assert e.favorite_count > first[e.tweet_id].favorite_count
        else:
            first[e.tweet_id] = e


def test_late_fraction_is_exact_and_late() -> None:
    count, fraction = 10_000, 0.03
    source = SyntheticTweets(_backfill(count=count, late_fraction=fraction))
    events = list(source)
    step = (END - START) / count
    late = [
        e for i, e in enumerate(events) if e.created_at < START + step * i - timedelta(minutes=14)
    ]
    assert len(late) == source.late
    assert abs(len(late) - count * fraction) <= 1


def test_live_stream_uses_the_clock() -> None:
    ticks = iter(NOW + timedelta(seconds=i) for i in range(100))
    events = list(SyntheticTweets(SyntheticOptions(seed=1, count=10), clock=lambda: next(ticks)))
    assert [e.created_at for e in events] == [NOW + timedelta(seconds=i) for i in range(10)]


def test_locations_are_skewed_with_unknowns() -> None:
    keys = Counter(e.location_key for e in SyntheticTweets(_backfill(count=20_000)))
    top_share = sum(n for _, n in keys.most_common(10)) / 20_000
    assert top_share > 0.25, keys.most_common(10)
    assert len(keys) > 150
    assert 0.05 < keys[UNKNOWN_LOCATION] / 20_000 < 0.2


def test_followers_are_heavy_tailed() -> None:
    followers = sorted(e.followers_count for e in SyntheticTweets(_backfill(count=20_000)))
    median, p999 = followers[len(followers) // 2], followers[int(len(followers) * 0.999)]
    assert 50 < median < 5_000
    assert p999 > 100 * median


@pytest.mark.parametrize(
    "bad",
    [
        {"count": -1},
        {"start": START},
        {"start": END, "end": START},
        {"start": START.replace(tzinfo=None), "end": END.replace(tzinfo=None)},
        {"start": START, "end": END, "count": 0},
        {"duplicate_fraction": 0.9},
        {"late_fraction": 1.5},
    ],
)
def test_bad_options_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SyntheticOptions(**bad)  # type: ignore[arg-type]


def test_shards_split_the_count_deterministically() -> None:
    shards = shard_options(_backfill(count=1001), 3)
    assert [s.count for s in shards] == [334, 334, 333]
    assert len({s.seed for s in shards}) == 3
    assert shard_options(_backfill(count=1001), 3) == shards
    assert shard_options(_backfill(count=10), 1) == [_backfill(count=10)]


def _fixture(name: str) -> dict[str, object]:
    return json.loads((FIXTURES / name).read_text())  # type: ignore[no-any-return]


def _mapped(name: str) -> list[Event]:
    events = parse_payload(_fixture(name))
    assert isinstance(events, list), events
    return events


def test_x_stream_payload_maps_to_the_contract() -> None:
    (event,) = _mapped("stream_tweet.json")
    assert event == Event(
        tweet_id="1859540000000000001",
        created_at=datetime(2026, 11, 21, 10, 15, 30, tzinfo=UTC),
        user_id="2244994945",
        user_name="XDevelopers",
        followers_count=583214,
        favorite_count=57,
        retweet_count=12,
        location="  San Francisco, CA ",
        lang="en",
        text="Streaming all the way: #Kafka #Spark https://t.co/abc123",
        hashtags=("Kafka", "Spark"),
        source="x",
    )
    assert event.location_key == "San Francisco, CA"


def test_x_search_response_maps_each_tweet_with_its_author() -> None:
    first, second = _mapped("search_response.json")
    assert (first.tweet_id, first.user_name, first.followers_count, first.location) == (
        "1859541111111111111",
        "ana",
        120,
        None,
    )
    assert first.created_at == datetime(2026, 11, 21, 10, 59, 59, 999000, tzinfo=UTC)
    assert first.location_key == UNKNOWN_LOCATION
    assert (second.location, second.hashtags, second.favorite_count) == ("東京", ("朝",), 9)


def test_x_payload_without_author_or_tweet_is_refused() -> None:
    assert parse_payload(_fixture("missing_author.json")) == XReject(
        "author 99 not in includes.users (expansion author_id)", "1859543333333333333"
    )
    disconnect = parse_payload(_fixture("stream_error.json"))
    assert isinstance(disconnect, XReject)
    assert str(disconnect) == (
        "unknown id: no tweet in payload: operational-disconnect: "
        "This stream has been disconnected upstream for operational reasons."
    )


def test_replay_parses_events_x_objects_and_reports_bad_lines() -> None:
    good = SyntheticTweets(_backfill(count=2)).__iter__()
    e1, e2 = next(good), next(good)
    lines = [
        e1.to_json_bytes(),
        b"{not json",
        b"",
        json.dumps(_fixture("stream_tweet.json")).encode(),
        b'{"tweet_id": "12", "created_at": "yesterday", "user_id": "u", "followers_count": 1, '
        b'"favorite_count": 0, "retweet_count": 0}',
        b"\xff\xfe",
        e2.to_json_bytes(),
    ]
    out = list(parse_lines(lines, now=NOW))
    events = [o for o in out if isinstance(o, Event)]
    bad = [o for o in out if isinstance(o, BadLine)]
    assert [e.tweet_id for e in events] == [e1.tweet_id, "1859540000000000001", e2.tweet_id]
    assert {e.source for e in events} == {"replay"}
    assert [b.line_number for b in bad] == [2, 5, 6]
    assert "created_at" in bad[1].reason


def test_x_objects_are_told_apart_from_contract_events() -> None:
    assert looks_like_x_payload(_fixture("stream_tweet.json"))
    assert looks_like_x_payload({"id": "1", "author_id": "2"})
    assert not looks_like_x_payload({"tweet_id": "1", "created_at": "x"})


# --- the rate a producer reports: sending alone, start-up apart ---------------------------


class _Keeper(EventProducer):
    """An EventProducer without Kafka: it counts what it is given."""

    def __init__(self) -> None:
        self.stats = Stats()

    def send_message(self, key: bytes, value: bytes) -> None:
        self.stats.sent += 1

    def close(self, timeout_s: float = 60.0) -> None:
        self.stats.delivered = self.stats.sent
        self.stats.finished = time.monotonic()


def test_the_rate_is_of_sending_alone_and_start_up_is_told_apart() -> None:
    def slow_to_start() -> Iterator[WireMessage]:
        time.sleep(0.3)  # a source's set-up: authors drawn, a file opened
        for n in range(1000):
            yield WireMessage(str(n).encode(), b"{}")

    started = process_started()
    producer = _Keeper()
    produce(slow_to_start(), producer)
    producer.close()
    stats = producer.stats
    assert stats.sent == 1000 and stats.elapsed < 0.25
    startup = startup_s(stats, started)
    assert startup is not None and startup >= 0.3
    # The process began before this module was imported, and not long before that.
    assert started <= producer_module._IMPORTED <= time.monotonic()
    summary = cli._summary(stats)
    assert summary.startswith("done: sent 1,000 events in ") and ", start-up " in summary
    assert startup_s(Stats(), started) is None
