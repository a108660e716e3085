"""Fault injection: the real pipeline, a fault, recovery with no manual step, then the
contract's exactness guarantee checked against the test's own aggregation of every
event in the topic (and raw_tweets against the winning copy of every tweet).

No scenario may lose or double-count a valid event, count a malformed one, or serve a
key of any view twice; every view (locations, hashtags, languages) is checked. The
events' hashtags and lang come in every form the contract normalises (``helpers.vary``).
Sizes: ``size(quick, full)`` (``make test`` / ``make chaos``); the Kafka client of the
producers and batch processes a scenario runs: its ``lane``'s (``client_params``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batch_layer.cycle import run_cycle
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_event
from lambda_common.contract.rows import warehouse_text
from lambda_common.kafka.broker import end_offsets
from lambda_common.objectstore import S3ObjectStore
from lambda_common.warehouse import Warehouse
from tests.integration.helpers import (
    CATCH_UP_S,
    REPO,
    SHIPPED_KEYS,
    Lane,
    SpeedJob,
    all_views_rows,
    expected_all_views,
    first_copies,
    messages_of,
    mismatch,
    read_topic,
    run_module,
    send_raw,
    vary,
    views_served_twice,
    wait_until_equal,
)
from tests.stack import StackHandle

from .conftest import Report, size

# -- the harness -----------------------------------------------------------------------


def _past(seed: int, count: int, *, duplicates: float = 0.1, late: float = 0.05) -> list[Event]:
    """Synthetic events of the last 3 days up to 2 h ago, hashtags and lang varied: all
    before any horizon a cycle sets now, so the serving views serve them from the batch
    layer."""
    now = datetime.now(UTC)
    options = SyntheticOptions(
        seed=seed,
        count=count,
        start=now - timedelta(days=3),
        end=now - timedelta(hours=2),
        duplicate_fraction=duplicates,
        late_fraction=late,
    )
    return vary(SyntheticTweets(options))


def _send(lane: Lane, events: list[Event], report: Report) -> None:
    send_raw(lane.settings, messages_of(events))
    report.events += len(events)


def _process(lane: Lane, log: Path, *argv: str, **env: str) -> subprocess.Popen[bytes]:
    """A pipeline CLI in the lane, in its own process group (for SIGKILL), logging to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=REPO,
            env={**os.environ, **lane.env(), "LOG_LEVEL": "INFO", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@contextlib.contextmanager
def _scheduler(lane: Lane, log: Path, interval: str = "1s") -> Iterator[subprocess.Popen[bytes]]:
    """``make batch`` (cycles every ``interval``) for the block; stopped with SIGTERM."""
    process = _process(lane, log, "batch_layer", "run", BATCH_INTERVAL=interval)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                _kill(process)


def _settle_and_check(lane: Lane, speed: SpeedJob | None = None) -> None:
    """The contract's exactness guarantee: producing has stopped; one batch cycle runs;
    once the speed layer (if any) has caught up, every serving view is the aggregation of
    the topic's valid, de-duplicated events, raw_tweets and raw_hashtags hold each tweet's
    winning copy, and every malformed message is a reject, counted nowhere."""
    run_cycle(lane.settings)
    now = datetime.now(UTC)
    want = expected_all_views(lane.settings, now, lambda hour: True)
    if speed is not None:
        wait_until_equal(speed, lambda: all_views_rows(lane.settings, "serving"), lambda: want)
    else:
        got = all_views_rows(lane.settings, "serving")
        assert got == want, mismatch(want, got)
    assert views_served_twice(lane.settings) == {}
    copies = first_copies(lane.settings, now).values()
    keys_of = SHIPPED_KEYS["hashtags"]
    winners = {
        e.tweet_id: (
            e.followers_count,
            e.favorite_count,
            e.retweet_count,
            warehouse_text(e.location_key),
            warehouse_text(e.lang_key),
        )
        for e in copies
    }
    tags = {(e.tweet_id, tag) for e in copies for _, tag in keys_of(e)}
    with Warehouse(lane.settings) as wh:
        stored = wh.query(
            "SELECT tweet_id, followers_count, favorite_count, retweet_count, location, lang "
            "FROM raw_tweets"
        )
        stored_tags = wh.query("SELECT tweet_id, hashtag FROM raw_hashtags")
        rejects = wh.query("SELECT COALESCE(SUM(rejects), 0) FROM load_ledger")[0][0]
    assert {r[0]: tuple(r[1:]) for r in stored} == winners
    assert len(stored) == len(winners)
    assert set(stored_tags) == tags
    assert len(stored_tags) == len(tags)
    malformed = sum(
        1
        for _, _, value in read_topic(lane.settings)
        if not isinstance(parse_event(value, now=now), Event)
    )
    assert rejects == malformed


# -- crashes ---------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_batch_cycle_sigkilled_at_random_points(lane: Lane, report: Report, tmp_path: Path) -> None:
    rng = random.Random(11)
    trials, killed = size(4, 20), 0
    log = tmp_path / "batch.log"
    # A first, undisturbed cycle says how long one takes here (start-up included), so the
    # kills can land anywhere in one: start-up, landing, load, offset commit.
    _send(lane, _past(99, 10_000), report)
    started = time.monotonic()
    assert _process(lane, log, "batch_layer", "once").wait(timeout=300) == 0, log.read_text()
    duration = time.monotonic() - started
    for trial in range(trials):
        _send(lane, _past(100 + trial, 10_000), report)
        cycle = _process(lane, log, "batch_layer", "once")
        time.sleep(rng.uniform(0.05, 0.95) * duration)
        if cycle.poll() is None:
            _kill(cycle)
            killed += 1
        else:
            assert cycle.returncode == 0, log.read_text()[-2000:]
    report.notes.append(f"{killed} of {trials} cycles SIGKILLed mid-way")
    assert killed >= trials // 2, "the kills mostly missed the cycles: retune the delays"
    _settle_and_check(lane)


@pytest.mark.kafka_python_only(
    "the fault is the Spark driver's, whose own Java client reads; the producer meets no "
    "fault (confluent's streams through broker faults in the broker and topology scenarios)"
)
@pytest.mark.timeout(1200)
def test_spark_driver_sigkilled_while_streaming(lane: Lane, report: Report, tmp_path: Path) -> None:
    _send(lane, _past(200, 2000), report)
    run_cycle(lane.settings)  # a horizon: history from batch, the live hours from speed
    speed = SpeedJob(lane, tmp_path)
    trials = size(2, 5)
    rate, seconds = 150, 20 + 30 * trials
    producer = _process(
        lane, tmp_path / "producer.log", "ingestion", "--count", str(rate * seconds),
        "--rate", str(rate), "--duplicates", "0.05", "--late", "0.03", "--seed", "201",
    )  # fmt: skip
    report.events += rate * seconds
    rng = random.Random(13)
    try:
        speed.start()
        for _ in range(trials):
            _wait_for_micro_batches(lane, speed, more_than=_micro_batches(lane))
            time.sleep(rng.uniform(0.0, 2.0))
            speed.kill()
            speed.start()
        report.notes.append(f"driver SIGKILLed {trials} times")
        assert producer.wait(timeout=seconds + 120) == 0, (tmp_path / "producer.log").read_text()
        _settle_and_check(lane, speed)
        assert speed.stop() == 0, speed.tail()
    finally:
        if producer.poll() is None:
            _kill(producer)
        if speed.alive():
            speed.kill()


def _micro_batches(lane: Lane) -> int:
    with Warehouse(lane.settings) as wh:
        return int(wh.query("SELECT COUNT(*) FROM speed_batches")[0][0])


def _wait_for_micro_batches(lane: Lane, speed: SpeedJob, more_than: int) -> None:
    deadline = time.monotonic() + CATCH_UP_S
    while _micro_batches(lane) <= more_than:
        assert speed.alive() and time.monotonic() < deadline, speed.tail()
        time.sleep(0.3)


# -- outages ---------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_kafka_broker_restarted_under_load(
    stack: StackHandle, lane: Lane, report: Report, tmp_path: Path
) -> None:
    _send(lane, _past(300, 2000), report)
    run_cycle(lane.settings)
    # The live producer's events are regenerated here from its seed and window, to check
    # that the topic holds every one of them after the outage.
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(minutes=40)
    count, rate = 5000, 150
    options = SyntheticOptions(
        seed=301, count=count, start=start, end=end, duplicate_fraction=0.05, late_fraction=0.0
    )
    produced_ids = {e.tweet_id for e in SyntheticTweets(options)}
    speed = SpeedJob(lane, tmp_path)
    speed.start()
    try:
        _wait_for_micro_batches(lane, speed, more_than=0)
        log = tmp_path / "batch.log"
        with _scheduler(lane, log, "3s") as scheduler:
            producer = _process(
                lane, tmp_path / "producer.log", "ingestion", "--count", str(count),
                "--rate", str(rate), "--seed", "301", "--duplicates", "0.05",
                "--start", start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )  # fmt: skip
            report.events += count
            time.sleep(8)
            stack.outage("kafka", 5)
            report.notes.append("broker down 5 s mid-stream")
            after_outage = log.stat().st_size
            assert producer.wait(timeout=300) == 0, (tmp_path / "producer.log").read_text()[-2000:]
            # make batch outlived the outage: the same process completed a cycle after the
            # broker came back, is still running, and ends cleanly on SIGTERM.
            _wait_until(
                lambda: _cycles_logged(log, since=after_outage) > 0,
                180,
                "the scheduler to complete a cycle after the outage",
            )
            assert scheduler.poll() is None, log.read_text()[-2000:]
            scheduler.send_signal(signal.SIGTERM)
            assert scheduler.wait(timeout=120) == 0, log.read_text()[-2000:]
        in_topic = {tweet_id for tweet_id in first_copies(lane.settings, datetime.now(UTC))}
        assert produced_ids <= in_topic, f"{len(produced_ids - in_topic)} produced events lost"
        _settle_and_check(lane, speed)
        assert speed.stop() == 0, speed.tail()
    finally:
        if speed.alive():
            speed.kill()


def _cycles_logged(log: Path, since: int = 0) -> int:
    """Completed cycles a scheduler logged after byte ``since`` of its log: lines whose
    message (after the logger's name) starts with "batch cycle:"."""
    with log.open("rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if line.partition("batch_layer.schedule: ")[2].startswith("batch cycle:")
    )


def test_postgres_stopped_during_a_copy(
    stack: StackHandle, lane: Lane, report: Report, tmp_path: Path
) -> None:
    _send(lane, _past(400, size(60_000, 150_000)), report)
    log = tmp_path / "batch.log"
    with _scheduler(lane, log):
        _wait_until(lambda: _copy_running(stack), 120, "a COPY in the warehouse")
        stack.outage("postgres", 3)
        report.notes.append("PostgreSQL stopped mid-COPY for 3 s")
        _wait_until(lambda: _all_landed(lane), 180, "the scheduler to catch up")
    assert "batch cycle failed (offsets not moved)" in log.read_text(), log.read_text()[-2000:]
    _settle_and_check(lane)


def _copy_running(stack: StackHandle) -> bool:
    with Warehouse(stack.settings) as wh:
        return bool(
            wh.query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'lambda-tweets' "
                "AND state = 'active' AND query LIKE 'COPY %%'"
            )
        )


def test_s3_server_stopped_during_landing(
    stack: StackHandle, lane: Lane, report: Report, tmp_path: Path
) -> None:
    _send(lane, _past(500, size(60_000, 150_000)), report)
    log = tmp_path / "batch.log"
    store = S3ObjectStore(lane.settings)
    with _scheduler(lane, log):
        _wait_until(
            lambda: bool(store.list_keys(f"plans/topic={lane.settings.kafka_topic}/")),
            120,
            "a landing plan in S3",
        )
        stack.outage("s3", 3)
        report.notes.append("S3 server stopped mid-landing for 3 s")
        _wait_until(lambda: _all_landed(lane), 180, "the scheduler to catch up")
    if "batch cycle failed" in log.read_text():
        report.notes.append("a cycle failed and was retried")
    _settle_and_check(lane)


def _all_landed(lane: Lane) -> bool:
    """True once the load ledger covers every offset now in the topic."""
    ends = end_offsets(lane.settings)
    with Warehouse(lane.settings) as wh:
        loaded = dict(
            wh.query(
                "SELECT kafka_partition, MAX(last_offset) FROM load_ledger GROUP BY kafka_partition"
            )
        )
    return all(end == 0 or loaded.get(p, -1) >= end - 1 for p, end in ends.items())


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a service mid-restart: ask again
            if condition():
                return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")


# -- bad and hostile input ---------------------------------------------------------------


def _valid(tweet_id: int, location: object = "Oslo", **fields: object) -> dict[str, object]:
    created = (datetime.now(UTC) - timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event: dict[str, object] = {
        "tweet_id": str(tweet_id),
        "created_at": created,
        "user_id": "u1",
        "followers_count": 10,
        "favorite_count": 2,
        "retweet_count": 1,
        "location": location,
    }
    return event | fields


def _malformed() -> list[bytes]:
    future = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = _valid(1)
    return [
        b"",
        b"not json at all",
        b'{"tweet_id": "1",',
        b"\xff\xfe\xfd invalid utf-8",
        json.dumps(base).encode()[:-1] + b"\xc3\x28}",  # invalid UTF-8 inside an object
        b"null",
        b"[1, 2, 3]",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to break a recursive parser
        json.dumps(base | {"followers_count": 2**63}).encode(),
        json.dumps(base | {"favorite_count": 10**30}).encode(),
        json.dumps(base | {"retweet_count": 1e400}).encode().replace(b"Infinity", b"1e400"),
        json.dumps(base | {"retweet_count": 1.5}).encode(),
        json.dumps(base | {"favorite_count": "2"}).encode(),
        json.dumps(base | {"followers_count": -1}).encode(),
        json.dumps(base | {"followers_count": True}).encode(),
        json.dumps(base | {"tweet_id": "12345678901234567890"}).encode(),
        json.dumps(base | {"tweet_id": 1}).encode(),
        json.dumps(base | {"location": ["a"]}).encode(),
        json.dumps(base | {"created_at": "yesterday"}).encode(),
        json.dumps(base | {"created_at": "2026-11-25T10:00:00"}).encode(),  # no offset
        json.dumps(base | {"created_at": future}).encode(),
        json.dumps({k: v for k, v in base.items() if k != "user_id"}).encode(),
        json.dumps(base).encode().replace(b"Oslo", b"Os\x00lo"),  # a raw NUL: not JSON
        json.dumps(base | {"hashtags": ["Kafka", 1]}).encode(),
        json.dumps(base | {"hashtags": "Kafka"}).encode(),
        json.dumps(base | {"hashtags": [["Kafka"]]}).encode(),
        json.dumps(base | {"hashtags": ["\ud800"]}).encode(),  # a lone surrogate escape
        json.dumps(base | {"lang": 5}).encode(),
        json.dumps(base | {"lang": ["en"]}).encode(),
    ]


@pytest.mark.confluent_in_make_test
def test_a_burst_of_malformed_messages_mixed_with_valid_ones(lane: Lane, report: Report) -> None:
    rounds = size(20, 200)
    bad = _malformed()
    messages: list[tuple[bytes, bytes]] = []
    for r in range(rounds):
        messages.append((b"k", json.dumps(_valid(10_000 + r)).encode()))
        messages.extend((f"bad{i}".encode(), body) for i, body in enumerate(bad))
        # Huge but valid: a 500,000-character text, 1,000 hashtags (one long) and a NUL
        # escaped in the location, a hashtag and the lang.
        tags = [f"#Tag{i % 300}" for i in range(1000)] + ["Sta\u0000vanger", "L" * 10_000]
        big = _valid(
            20_000 + r,
            location="Sta\u0000vanger",
            text="x" * 500_000,
            hashtags=tags,
            lang="N\u0000O",
        )
        messages.append((b"k", json.dumps(big).encode()))
    send_raw(lane.settings, messages)
    report.events += len(messages)
    report.notes.append(f"{rounds * len(bad)} malformed of {len(bad)} kinds")
    _settle_and_check(lane)
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT SUM(rejects) FROM load_ledger")[0][0] == rounds * len(bad)
        # NUL is kept as U+FFFD in the warehouse (its text types cannot hold NUL).
        assert wh.query("SELECT DISTINCT location FROM raw_tweets WHERE tweet_id LIKE '2%%'") == [
            ("Sta\ufffdvanger",)
        ]
        assert wh.query("SELECT DISTINCT lang FROM raw_tweets WHERE tweet_id LIKE '2%%'") == [
            ("n\ufffdo",)
        ]
        assert wh.query(
            "SELECT COUNT(DISTINCT hashtag), MAX(LENGTH(hashtag)) FROM raw_hashtags "
            "WHERE tweet_id LIKE '2%%'"
        ) == [(302, 100)]
        assert wh.query("SELECT 1 FROM raw_hashtags WHERE hashtag = %s", ("sta\ufffdvanger",))


HOSTILE = [
    "O'Brien's \"pub\"",
    "tab\there",
    "new\nline",
    "back\\slash",
    "\\N",
    "NULL",
    "",
    "   ",
    "\t padded \r\n",
    "🏳️‍🌈 Zürich ✈️",
    "'); DROP TABLE raw_tweets; --",
    "1; DELETE FROM batch_view",
    "%(horizon)s {source} $1",
    "a,b;c|d",
    "é" * 250,
    "\u202eevil bidi",
]


def _served(lane: Lane, query: str) -> dict[str, int]:
    """Tweets per key (``query``'s columns: key, tweets), read as users read a serving
    view (``make query``: the reader's role)."""
    served = run_module(
        "serving_layer", "query", "--sql", query, "--format", "json", env=lane.env()
    )
    assert served.returncode == 0, served.stderr
    return {row["key"]: row["tweets"] for row in json.loads(served.stdout)}


@pytest.mark.confluent_in_make_test
def test_hostile_locations_are_stored_and_served_verbatim(lane: Lane, report: Report) -> None:
    # The same strings as hashtags (as given, and upper-cased behind a '#') and as lang.
    copies = size(3, 30)
    messages = [
        (
            f"{i}-{c}".encode(),
            json.dumps(
                _valid(
                    30_000 + i * 1000 + c,
                    location=text,
                    hashtags=[text, "#" + text.upper()],
                    lang=text,
                )
            ).encode(),
        )
        for i, text in enumerate(HOSTILE)
        for c in range(copies)
    ]
    send_raw(lane.settings, messages)
    report.events += len(messages)
    _settle_and_check(lane)
    ascii_space = " \t\n\r\f\v"
    # location: trimmed (ASCII whitespace), cut to 200 code points, trimmed again, blank
    # as (unknown). hashtag: trimmed, one leading '#' off, lower-cased, cut to 100,
    # trimmed again, empty dropped, once per tweet. lang: trimmed, lower-cased, cut to
    # 35, trimmed again, blank as (unknown) (contract version 3).
    locations: dict[str, int] = {}
    hashtags: dict[str, int] = {}
    langs: dict[str, int] = {}
    for text in HOSTILE:
        key = text.strip(ascii_space)[:200].strip(ascii_space) or "(unknown)"
        locations[key] = locations.get(key, 0) + copies
        tags = {
            t.strip(ascii_space).removeprefix("#").lower()[:100].strip(ascii_space)
            for t in (text, "#" + text.upper())
        }
        for tag in tags - {""}:
            hashtags[tag] = hashtags.get(tag, 0) + copies
        lang = text.strip(ascii_space).lower()[:35].strip(ascii_space) or "(unknown)"
        langs[lang] = langs.get(lang, 0) + copies
    by = "SELECT {0} AS key, SUM(tweet_count) AS tweets FROM {1} GROUP BY {0}"
    assert _served(lane, by.format("location", "serving_view")) == locations
    assert _served(lane, by.format("hashtag", "serving_hashtags")) == hashtags
    assert _served(lane, by.format("lang", "serving_languages")) == langs


@pytest.mark.confluent_in_make_test
def test_a_duplicate_storm(lane: Lane, report: Report) -> None:
    events = _past(600, size(3000, 30_000), duplicates=0.0, late=0.0)
    payloads = [(e.tweet_id.encode(), e.to_json_bytes()) for e in events]
    # Every event three times: the copies later in the topic, interleaved with others.
    send_raw(lane.settings, payloads + payloads[::-1] + payloads)
    report.events += 3 * len(payloads)
    _settle_and_check(lane)
    with Warehouse(lane.settings) as wh:
        assert wh.query("SELECT COUNT(*) FROM raw_tweets")[0][0] == len(
            {e.tweet_id for e in events}
        )
