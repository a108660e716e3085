"""Small helpers the integration tests share: read a whole topic back, run a CLI, and
compute the contract's aggregation of every view from what a topic holds (the tests' own
oracle), to compare with what a layer wrote."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg2 import sql

from lambda_common.contract import Event, normalize_hashtags, normalize_lang, parse_event
from lambda_common.contract.rows import warehouse_text
from lambda_common.errors import LambdaError
from lambda_common.kafka.broker import client_config
from lambda_common.settings import Settings
from lambda_common.views import View
from lambda_common.warehouse import Warehouse

ViewKey = tuple[Any, ...]
"""A view row's identity: ``(event_hour, *keys)``; in the all-views maps
(:func:`all_views_rows`, :func:`expected_all_views`) the view's name comes first."""
ViewSums = tuple[int, int, int, int]
Layer = Literal["batch", "speed", "serving"]
KeysOf = Callable[[Event], Iterable[ViewKey]]
"""The rows a tweet counts in, for one view: ``(event_hour, *keys)`` of each."""


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
            # The lane's views: the shipped ones, plus a folder's if the test gave one.
            "VIEWS_DIR": str(self.settings.views_dir or ""),
            "KAFKA_CLIENT": self.settings.kafka_client,
        }

    def with_client(self, client: str) -> Lane:
        """The same lane with ``KAFKA_CLIENT`` set to ``client`` (its settings and CLIs)."""
        return Lane(self.settings.model_copy(update={"kafka_client": client}), self.schema)

    def with_views(self, folder: Path) -> Lane:
        """The same lane with ``VIEWS_DIR`` set to ``folder`` (its settings and CLIs)."""
        return Lane(self.settings.model_copy(update={"views_dir": folder}), self.schema)


KAFKA_CLIENTS = ("kafka-python", "confluent")
"""Every ``KAFKA_CLIENT``: the tests of the producer and the batch event log that run
under both (a focused few; the rest run under the default)."""


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


def _twice_query(view: View, relation: str) -> sql.Composable:
    """How many keys of ``relation`` (one of ``view``'s) have more than one row."""
    return sql.SQL(
        "(SELECT COUNT(*) FROM (SELECT 1 FROM {} GROUP BY {} HAVING COUNT(*) > 1) AS twice)"
    ).format(sql.Identifier(relation), sql.SQL(", ").join(map(sql.Identifier, view.key_columns)))


def _poll_query(settings: Settings) -> sql.Composable:
    """One statement, so the horizon, the keys served twice (summed over every serving
    view) and the tweets served (``serving_view``) share a snapshot."""
    views = settings.views
    twice = sql.SQL(" + ").join(_twice_query(v, v.serving_view) for v in views)
    return sql.SQL(
        "SELECT (SELECT MAX(horizon) FROM batch_horizon), {}, "
        "(SELECT COALESCE(SUM(tweet_count), 0) FROM {})"
    ).format(twice, sql.Identifier(views[0].serving_view))


@dataclass
class ServingPoller:
    """Reads the serving views every ``interval_s`` in a thread (``run``), keeping what it
    saw: (horizon, keys served twice in any serving view, tweets in ``serving_view``). A
    failed read (the warehouse restarting) is counted in ``errors`` and retried, never
    taken for a sample."""

    settings: Settings
    interval_s: float = 0.3
    samples: list[tuple[datetime | None, int, int]] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        poll = _poll_query(self.settings)
        while not self.stop.is_set():
            try:
                with Warehouse(self.settings) as wh:
                    while not self.stop.is_set():
                        horizon, twice, total = wh.query(poll)[0]
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
    out: list[tuple[int, int, bytes]] = []
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


def view_named(settings: Settings, name: str) -> View:
    """The view ``name`` is the name or one relation of (``"serving_view"`` is locations)."""
    for view in settings.views:
        if name in (view.name, view.batch_table, view.speed_table, view.serving_view):
            return view
    raise KeyError(f"no view has a relation named {name!r}")


def relation_of(view: View, layer: Layer) -> str:
    """The view's table (``batch``, ``speed``) or serving view (``serving``)."""
    return {"batch": view.batch_table, "speed": view.speed_table, "serving": view.serving_view}[
        layer
    ]


def _locations(e: Event) -> list[ViewKey]:
    return [(e.event_hour, warehouse_text(e.location_key))]


def _hashtags(e: Event) -> list[ViewKey]:
    # A tweet counts once per distinct key as the warehouse holds it (NUL -> U+FFFD can
    # merge two of the contract's keys).
    keys = dict.fromkeys(warehouse_text(k) for k in normalize_hashtags(e.hashtags))
    return [(e.event_hour, k) for k in keys]


def _languages(e: Event) -> list[ViewKey]:
    return [(e.event_hour, warehouse_text(normalize_lang(e.lang)))]


SHIPPED_KEYS: dict[str, KeysOf] = {
    "locations": _locations,
    "hashtags": _hashtags,
    "languages": _languages,
}
"""The tests' own reading of CONTRACT sections 2 and 2b: the rows each tweet counts in."""


def aggregate(
    events: Iterable[Event], keys_of: KeysOf, keep: Callable[[datetime], bool]
) -> dict[ViewKey, ViewSums]:
    """The contract's measures of ``events`` (already de-duplicated) per key, for the
    events whose ``event_hour`` satisfies ``keep``."""
    sums: dict[ViewKey, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        if keep(e.event_hour):
            for key in keys_of(e):
                s = sums[key]
                s[0] += 1
                s[1] += e.followers_count
                s[2] += e.favorite_count
                s[3] += e.retweet_count
    return {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}


def expected_view(
    settings: Settings,
    now: datetime,
    keep: Callable[[datetime], bool],
    view: View | str = "locations",
) -> dict[ViewKey, ViewSums]:
    """The contract's aggregation of one shipped view over the topic's valid,
    de-duplicated events whose ``event_hour`` satisfies ``keep``, computed here
    independently of both layers (``locations``, ``serving_view``'s, unless told)."""
    name = view.name if isinstance(view, View) else view_named(settings, view).name
    return aggregate(first_copies(settings, now).values(), SHIPPED_KEYS[name], keep)


def expected_all_views(
    settings: Settings,
    now: datetime,
    keep: Callable[[datetime], bool],
    extra: Mapping[str, KeysOf] | None = None,
) -> dict[ViewKey, ViewSums]:
    """:func:`expected_view` of every view in ``settings.views`` in one map keyed by
    ``(view name, event_hour, *keys)``; a view not shipped needs its key function in
    ``extra`` (the test that defines it computes its rows)."""
    events = list(first_copies(settings, now).values())
    keys = {**SHIPPED_KEYS, **(extra or {})}
    out: dict[ViewKey, ViewSums] = {}
    for view in settings.views:
        for key, sums in aggregate(events, keys[view.name], keep).items():
            out[(view.name, *key)] = sums
    return out


def _rows(wh: Warehouse, view: View, relation: str) -> dict[ViewKey, ViewSums]:
    n = len(view.key_columns)
    rows = wh.query(
        sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, view.columns)), sql.Identifier(relation)
        )
    )
    return {tuple(r[:n]): (int(r[n]), int(r[n + 1]), int(r[n + 2]), int(r[n + 3])) for r in rows}


def view_rows(
    settings: Settings, view: View | str, layer: Layer = "serving"
) -> dict[ViewKey, ViewSums]:
    """A view's rows keyed like :func:`expected_view`: ``view`` is a View (read in
    ``layer``) or the name of one of a view's relations (``"batch_view"``)."""
    if isinstance(view, View):
        definition, relation = view, relation_of(view, layer)
    else:
        definition, relation = view_named(settings, view), view
    with Warehouse(settings) as wh:
        return _rows(wh, definition, relation)


def all_views_rows(settings: Settings, layer: Layer = "serving") -> dict[ViewKey, ViewSums]:
    """Every view's rows in ``layer``, keyed like :func:`expected_all_views`."""
    out: dict[ViewKey, ViewSums] = {}
    with Warehouse(settings) as wh:
        for view in settings.views:
            for key, sums in _rows(wh, view, relation_of(view, layer)).items():
                out[(view.name, *key)] = sums
    return out


def rows_served_twice(
    settings: Settings, view: View | str = "serving_view", layer: Layer = "serving"
) -> int:
    """How many keys a view holds more than once (``view_rows`` folds them into one key,
    so exactness checks ask this too)."""
    if isinstance(view, View):
        definition, relation = view, relation_of(view, layer)
    else:
        definition, relation = view_named(settings, view), view
    with Warehouse(settings) as wh:
        return int(wh.query(sql.SQL("SELECT {}").format(_twice_query(definition, relation)))[0][0])


def views_served_twice(settings: Settings, layer: Layer = "serving") -> dict[str, int]:
    """The views holding a key more than once in ``layer``, and how many such keys."""
    counts = {v.name: rows_served_twice(settings, v, layer) for v in settings.views}
    return {name: n for name, n in counts.items() if n}


def mismatch(want: dict[ViewKey, ViewSums], got: dict[ViewKey, ViewSums]) -> str:
    """What differs between two view maps, briefly ('' when equal)."""
    if want == got:
        return ""
    differ = {k: (v, got.get(k)) for k, v in want.items() if got.get(k) != v}
    extra = {k: v for k, v in got.items() if k not in want}
    return (
        f"{len(differ)} rows differ or are missing, {len(extra)} extra: "
        f"{list(differ.items())[:4]} {list(extra.items())[:4]}"
    )


# -- varied events: the keys of the hashtags and languages views at their edges ----------

_TAG_FORMS: tuple[Callable[[str], str], ...] = (
    lambda t: t,
    lambda t: "#" + t,
    lambda t: f"  {t.upper()}\t",
    lambda t: f"\v#{t.lower()}\f",
    lambda t: "##" + t,  # keeps one '#'
    lambda t: "# " + t,  # the space after the '#' is trimmed (contract version 3)
    lambda t: "\u00a0" + t,  # NO-BREAK SPACE is not trimmed
    lambda t: f"\r\n{t.swapcase()} ",
)
_ODD_TAGS: tuple[tuple[str, ...], ...] = (
    ("",),
    ("#",),
    (" \t ",),
    ("İstanbul",),  # lower-cases to one more code point
    ("ΣΟΦΟΣ",),  # final sigma
    ("Straße", "STRASSE"),  # two keys: lower(), not casefold()
    ("a\x00b", "A\ufffdB"),  # one key once NUL is U+FFFD
    ("X" * 130,),  # cut to 100 code points
    ("#" + "y" * 100 + "Z", "Y" * 100),  # the same key after the cut
    ("İ" * 100,),
    ("🇫🇷Paris", "#🇫🇷PARIS"),
    ("'; DROP TABLE raw_hashtags; --", "\\N", 'quo"te,comma'),
)
_ODD_LANGS: tuple[str | None, ...] = (
    None,
    "",
    "   ",
    "\t\v\f",
    " EN ",
    "En",
    "pt-BR",
    "PT-br",
    "\nJA\r",
    "ZH-Hant-TW",
    "und",
    "x" * 40,  # cut to 35 code points
    "İ" * 20,  # 40 code points once lower-cased, then cut
    "e\x00n",  # NUL -> U+FFFD
    "\u00a0fr",
    "(UNKNOWN)",  # the same key as an absent lang
)


def vary(events: Iterable[Event]) -> list[Event]:
    """The events with their hashtags and lang rewritten into every form the contract
    normalises: mixed case, surrounding ASCII whitespace (and kept non-ASCII), leading
    '#', tags that collide or are empty after normalisation, over-long and lengthening
    ones, NUL, blank and absent lang. Deterministic per (tweet_id, favorite_count): a
    re-capture (same id, higher counts) gets other hashtags and lang than its first copy,
    which alone must count."""
    out = []
    for e in events:
        rng = random.Random(zlib.crc32(f"{e.tweet_id}:{e.favorite_count}".encode()))
        tags = [rng.choice(_TAG_FORMS)(t) for t in e.hashtags]
        if tags and rng.random() < 0.3:  # the same tag again, in another form
            tags.append(rng.choice(_TAG_FORMS)(rng.choice(e.hashtags)))
        if rng.random() < 0.15:
            tags.extend(rng.choice(_ODD_TAGS))
        rng.shuffle(tags)
        lang = e.lang if rng.random() < 0.5 else rng.choice(_ODD_LANGS)
        out.append(dataclasses.replace(e, hashtags=tuple(tags), lang=lang))
    return out


def messages_of(events: Iterable[Event]) -> list[tuple[bytes, bytes]]:
    """(key, value) of each event as producers send it (keyed by tweet_id)."""
    return [(e.tweet_id.encode(), e.to_json_bytes()) for e in events]


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
        settings = lane.settings.model_copy(update={"speed_checkpoint": str(folder / "checkpoint")})
        # The streaming query's own checkpoint: a folder of SPEED_CHECKPOINT named after
        # the views' definitions (a view added or changed starts a fresh one).
        self.checkpoint = Path(settings.speed_query_checkpoint)
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
    pytest.fail(f"view never matched: {mismatch(want, got)}\n{job.tail()}")
