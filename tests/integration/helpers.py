"""Small helpers the integration tests share: read a whole topic back, run a CLI, and
compute the contract's aggregation from what a topic holds (the tests' own oracle)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg2 import sql

from lambda_common.broker import client_config
from lambda_common.contract import Event, parse_event
from lambda_common.errors import LambdaError
from lambda_common.rows import warehouse_text
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

ViewKey = tuple[datetime, str]
ViewSums = tuple[int, int, int, int]


@dataclass
class Lane:
    """One test's private topic and warehouse schema (``search_path`` in its DSN)."""

    settings: Settings
    schema: str

    def env(self) -> dict[str, str]:
        """The environment a CLI of the pipeline needs to work in this lane."""
        return {
            "KAFKA_TOPIC": self.settings.kafka_topic,
            "WAREHOUSE_DSN": self.settings.warehouse_dsn.get_secret_value(),
            "QUERY_DSN": self.settings.query_dsn.get_secret_value(),
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "S3_ENDPOINT_URL": self.settings.s3_endpoint_url or "",
        }


def malformed_messages(now: datetime, tag: str) -> list[tuple[bytes, bytes]]:
    """One message per kind of rejection, each with a key of its own."""
    good = {
        "tweet_id": "7",
        "created_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_id": "u",
        "followers_count": 1,
        "favorite_count": 2,
        "retweet_count": 3,
    }
    far_future = good | {"created_at": (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    bodies = [
        b"{not json",
        b"\xff\xfe invalid utf-8",
        b"[1, 2, 3]",
        json.dumps(good | {"favorite_count": "2"}).encode(),
        json.dumps(good | {"retweet_count": -1}).encode(),
        json.dumps({k: v for k, v in good.items() if k != "user_id"}).encode(),
        json.dumps(good | {"created_at": "yesterday"}).encode(),
        json.dumps(far_future).encode(),
    ]
    return [(f"{tag}{i}".encode(), body) for i, body in enumerate(bodies)]


# One statement, so the horizon, the duplicate count and the total share a snapshot.
_POLL = """
SELECT
    (SELECT MAX(horizon) FROM batch_horizon),
    (SELECT COUNT(*) FROM (
        SELECT 1 FROM serving_view GROUP BY event_hour, location HAVING COUNT(*) > 1
    ) AS twice),
    (SELECT COALESCE(SUM(tweet_count), 0) FROM serving_view)
"""


@dataclass
class ServingPoller:
    """Reads serving_view every ``interval_s`` in a thread (``run``), keeping what it saw:
    (horizon, keys served twice, tweets). A failed read (the warehouse restarting) is
    counted in ``errors`` and retried, never taken for a sample."""

    settings: Settings
    interval_s: float = 0.3
    samples: list[tuple[datetime | None, int, int]] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with Warehouse(self.settings) as wh:
                    while not self.stop.is_set():
                        horizon, twice, total = wh.query(_POLL)[0]
                        self.samples.append((horizon, int(twice), int(total)))
                        self.stop.wait(self.interval_s)
            except LambdaError:
                self.errors += 1
                self.stop.wait(1.0)


def send_raw(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    """Send (key, value) pairs as they are, in order, and wait for every ack."""
    producer = KafkaProducer(acks="all", enable_idempotence=True, **client_config(settings))
    for key, value in messages:
        producer.send(settings.kafka_topic, key=key, value=value)
    producer.flush()
    producer.close()


def read_topic(settings: Settings) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every message now in the lane's topic."""
    consumer = KafkaConsumer(enable_auto_commit=False, **client_config(settings))
    partitions = consumer.partitions_for_topic(settings.kafka_topic)
    tps = [TopicPartition(settings.kafka_topic, p) for p in partitions]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    ends = consumer.end_offsets(tps)
    out = []
    while any(consumer.position(tp) < ends[tp] for tp in tps):
        for tp, records in consumer.poll(timeout_ms=1000).items():
            out.extend((tp.partition, r.offset, r.value) for r in records)
    consumer.close()
    return out


def first_copies(settings: Settings, now: datetime) -> dict[str, Event]:
    """The winning copy of each valid tweet in the topic: the contract's de-duplication
    (lowest offset first), computed here independently of both layers."""
    first: dict[str, tuple[int, int, Event]] = {}
    for partition, offset, value in read_topic(settings):
        event = parse_event(value, now=now)
        if isinstance(event, Event):
            rank = (offset, partition)
            if event.tweet_id not in first or rank < first[event.tweet_id][:2]:
                first[event.tweet_id] = (*rank, event)
    return {tweet_id: e for tweet_id, (_, _, e) in first.items()}


def expected_view(
    settings: Settings, now: datetime, keep: Callable[[datetime], bool]
) -> dict[ViewKey, ViewSums]:
    """The contract's aggregation over the topic's valid, de-duplicated events whose
    ``event_hour`` satisfies ``keep``, computed here independently of both layers."""
    sums: dict[ViewKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in first_copies(settings, now).values():
        if keep(e.event_hour):
            s = sums[(e.event_hour, warehouse_text(e.location_key))]
            s[0] += 1
            s[1] += e.followers_count
            s[2] += e.favorite_count
            s[3] += e.retweet_count
    return {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}


def rows_served_twice(settings: Settings, view: str = "serving_view") -> int:
    """How many (hour, location) keys a view holds more than once (``view_rows`` folds
    them into one key, so exactness checks ask this too)."""
    with Warehouse(settings) as wh:
        rows = wh.query(
            sql.SQL(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {} GROUP BY event_hour, location "
                "HAVING COUNT(*) > 1) AS twice"
            ).format(sql.Identifier(view))
        )
    return int(rows[0][0])


def view_rows(settings: Settings, view: str) -> dict[ViewKey, ViewSums]:
    """A view's rows, keyed like :func:`expected_view` (``view`` is a fixed name)."""
    with Warehouse(settings) as wh:
        rows = wh.query(
            sql.SQL(
                "SELECT event_hour, location, tweet_count, followers_sum, favorite_sum, "
                "retweet_sum FROM {}"
            ).format(sql.Identifier(view))
        )
    return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}


REPO = Path(__file__).resolve().parents[2]


def consume_all(
    settings: Settings, topic: str, expected: int, *, idle_ms: int = 15_000
) -> list[tuple[bytes, bytes]]:
    """(key, value) of the topic's messages from the start: stop at ``expected`` or when idle."""
    consumer = KafkaConsumer(
        topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
        **client_config(settings),
    )
    try:
        got: list[tuple[bytes, bytes]] = []
        for message in consumer:
            got.append((message.key, message.value))
            if len(got) >= expected:
                break
        return got
    finally:
        consumer.close()


def run_module(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


CATCH_UP_S = int(
    os.environ.get("SPEED_TEST_CATCH_UP_S", "240")
)  # Spark's first start and first micro-batch included, on 2 slow cores


class SpeedJob:
    """``python -m speed_layer`` for one lane, with its own checkpoint and log."""

    def __init__(self, lane: Lane, folder: Path) -> None:
        self.env = {
            **os.environ,
            **lane.env(),
            "SPEED_CHECKPOINT": str(folder / "checkpoint"),
            "SPEED_TRIGGER": "1s",
        }
        self.checkpoint = folder / "checkpoint"
        self.log = folder / "speed.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "speed_layer"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL takes the JVM too
            )

    def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def wait_until_equal(
    job: SpeedJob,
    actual: Callable[[], dict[ViewKey, ViewSums]],
    expected: Callable[[], dict[ViewKey, ViewSums]],
) -> None:
    """Poll ``actual`` until it equals ``expected`` (computed once), failing the test
    with the differences (and the job's log) after CATCH_UP_S."""
    want = expected()
    deadline = time.monotonic() + CATCH_UP_S
    got: dict[ViewKey, ViewSums] = {}
    while time.monotonic() < deadline:
        assert job.alive(), job.tail()
        got = actual()
        if got == want:
            return
        time.sleep(1)
    missing = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in want}
    pytest.fail(
        f"view never matched: {len(missing)} rows differ/missing, {len(extra)} extra\n"
        f"{list(missing.items())[:3]} {list(extra.items())[:3]}\n{job.tail()}"
    )
