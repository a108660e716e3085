"""``make recompute`` reads the master dataset as streams, and only what it needs: the
first line of an object, the rejects objects one listing found, each object once. Against
the in-memory object store (which counts the bytes it hands out) and a recording fake
warehouse connection, for both dialects."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import random
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from batch_layer import staging
from batch_layer.landing import (
    LandedObject,
    Message,
    count_master_records,
    encode_chunk,
    read_master_object,
    rejects_key_of,
    stream_master_records,
    upgrade_master_object,
)
from batch_layer.load import BatchWarehouse
from batch_layer.master_reads import Rejects, count_records, first_record, overlapping
from lambda_common.contract import Event
from lambda_common.errors import ServiceUnavailable
from lambda_common.objectstore import InMemoryObjectStore, S3ObjectStore
from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from tests.unit.fake_connection import FakeConnection

NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)
TS = int(datetime(2026, 11, 21, 9, 0, tzinfo=UTC).timestamp() * 1000)
TOPIC = "tweets"


def _event(i: int) -> bytes:
    return Event(
        tweet_id=str(1000 + i),
        created_at=datetime(2026, 11, 21, 10, 15, i % 60, tzinfo=UTC),
        user_id="u",
        followers_count=10,
        favorite_count=i,
        retweet_count=0,
        location="Oslo",
        hashtags=["kafka"],
    ).to_json_bytes()


class CountingStore(InMemoryObjectStore):
    """The in-memory store, counting the calls a recompute must not make per object."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def get(self, key: str) -> bytes:
        self._count("get")
        return super().get(key)

    def exists(self, key: str) -> bool:
        self._count("exists")
        return super().exists(key)

    def list_keys(self, prefix: str = "") -> list[str]:
        self._count("list_keys")
        return super().list_keys(prefix)


def _store() -> CountingStore:
    store = CountingStore()
    store.ensure_bucket()
    return store


def _land(
    store: InMemoryObjectStore, partition: int, first: int, good: int, bad: int
) -> LandedObject:
    """Land one chunk as a cycle does (rejects object first), returning what it recorded."""
    messages = [Message(first + i, TS, _event(first + i)) for i in range(good)]
    messages += [Message(first + good + i, TS, b"{not json") for i in range(bad)]
    last = first + good + bad - 1
    chunk = encode_chunk(TOPIC, partition, first, last, messages, NOW)
    if chunk.rejects_body is not None and chunk.landed.rejects_key is not None:
        store.put(chunk.landed.rejects_key, chunk.rejects_body)
    store.put(chunk.landed.key, chunk.body)
    return chunk.landed


def _listed(landed: LandedObject) -> LandedObject:
    """The object as recompute lists it: counts unknown."""
    return LandedObject(
        landed.key, TOPIC, landed.partition, landed.first_offset, landed.last_offset, 0, 0
    )


def _big_object(lines: int = 3000) -> tuple[bytes, list[dict[str, Any]]]:
    """A gzip JSON-lines object that does not compress away (random padding)."""
    records = [{"n": i, "pad": os.urandom(300).hex()} for i in range(lines)]
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return body, records


# Streams of the store and of landing's format ---------------------------------------------


def test_first_record_reads_only_the_start_of_the_object() -> None:
    store = _store()
    body, records = _big_object()
    store.put("master/big.jsonl.gz", body)
    assert len(body) > 1_000_000
    assert first_record(store, "master/big.jsonl.gz") == records[0]
    assert 0 < store.bytes_read < len(body) // 10
    assert "get" not in store.calls


def test_first_record_of_an_empty_object_is_none() -> None:
    store = _store()
    store.put("master/empty.jsonl.gz", gzip.compress(b""))
    assert first_record(store, "master/empty.jsonl.gz") is None


def test_streamed_records_and_counts_are_those_of_the_whole_object() -> None:
    body, records = _big_object(500)
    assert list(stream_master_records(io.BytesIO(body))) == records
    assert list(read_master_object(body)) == records
    assert count_master_records(io.BytesIO(body)) == 500
    store = _store()
    store.put("k", body)
    assert count_records(store, "k") == 500
    assert store.bytes_read == len(body)


def test_an_upgrade_from_a_stream_is_the_upgrade_from_the_bytes() -> None:
    landed_store = _store()
    landed = _land(landed_store, 0, 0, 5, 0)
    legacy = _legacy(landed_store.objects[landed.key])
    assert upgrade_master_object(io.BytesIO(legacy)) == upgrade_master_object(legacy)
    assert upgrade_master_object(legacy) == landed_store.objects[landed.key]


def test_the_in_memory_store_opens_only_what_it_has() -> None:
    store = _store()
    with pytest.raises(ServiceUnavailable, match="NoSuchKey"):
        store.open("missing")
    store.put("k", b"abc")
    with store.open("k") as stream:
        assert stream.read(2) == b"ab"
    assert store.bytes_read == 2


class _Body:
    """botocore's streaming body: ``fail`` after the first read, and whether it was closed."""

    def __init__(self, data: bytes, fail: Exception | None = None) -> None:
        self.data = io.BytesIO(data)
        self.fail = fail
        self.reads = 0
        self.closed = False

    def read(self, amt: int | None = None) -> bytes:
        self.reads += 1
        if self.fail is not None and self.reads > 1:
            raise self.fail
        return self.data.read(amt)

    def close(self) -> None:
        self.closed = True


class _Client:
    def __init__(self, body: _Body | None) -> None:
        self.body = body

    def get_object(self, **where: str) -> dict[str, Any]:
        if self.body is None:
            error = {"Error": {"Code": "NoSuchKey", "Message": "gone"}}
            raise ClientError(error, "GetObject")  # type: ignore[arg-type]
        return {"Body": self.body}


def _s3(body: _Body | None) -> S3ObjectStore:
    store = S3ObjectStore(load_settings(s3_bucket="bucket"))
    store.__dict__["client"] = _Client(body)  # the cached client, replaced
    return store


def test_an_s3_stream_is_read_in_pieces_and_closing_it_stops_the_transfer() -> None:
    body = _Body(b"x" * 200_000)
    with _s3(body).open("master/a") as stream:
        assert stream.read(10) == b"x" * 10
    assert body.closed
    assert body.data.tell() < 200_000


def test_s3_errors_while_opening_or_reading_are_the_store_being_unavailable() -> None:
    with pytest.raises(ServiceUnavailable, match=r"S3 get s3://bucket/master/a .*NoSuchKey"):
        _s3(None).open("master/a")
    lost = ResponseStreamingError(error=ConnectionResetError("reset"))
    stream = _s3(_Body(b"x" * 200_000, fail=lost)).open("master/a")
    with pytest.raises(ServiceUnavailable, match=r"S3 get s3://bucket/master/a .*Streaming"):
        while stream.read(65536):
            pass


# The rejects, listed once ----------------------------------------------------------------


def test_rejects_are_listed_once_and_only_existing_objects_are_read() -> None:
    store = _store()
    with_rejects = _land(store, 0, 0, 4, 3)
    clean = _land(store, 1, 0, 5, 0)
    only_rejects = _land(store, 2, 0, 0, 2)
    other_topic = encode_chunk("tweets2", 0, 0, 0, [Message(0, TS, b"{")], NOW)
    assert other_topic.landed.rejects_key is not None and other_topic.rejects_body is not None
    store.put(other_topic.landed.rejects_key, other_topic.rejects_body)
    store.calls.clear()
    rejects = Rejects.listed(store, TOPIC)
    counted = {o.key: rejects.count(o.key) for o in (with_rejects, clean, only_rejects)}
    assert counted == {with_rejects.key: 3, clean.key: 0, only_rejects.key: 2}
    assert store.calls == {"list_keys": 1}  # no HEAD per object, no whole-object GET
    assert rejects.keys == {rejects_key_of(with_rejects.key), rejects_key_of(only_rejects.key)}


# Objects sharing offsets -------------------------------------------------------------------


def _obj(key: str, partition: int, first: int, last: int) -> LandedObject:
    return LandedObject(key, TOPIC, partition, first, last, 0, 0)


def test_objects_sharing_offsets_in_a_partition_are_found() -> None:
    objects = [
        _obj("a", 0, 0, 99),
        _obj("b", 0, 100, 199),
        _obj("gen1-a", 0, 0, 49),  # a re-created topic's generation starts at 0 again
        _obj("c", 1, 0, 99),  # another partition: offsets are its own
        _obj("d", 0, 300, 399),
        _obj("e", 0, 399, 450),  # shares one offset with d
    ]
    assert overlapping(objects) == {"a", "gen1-a", "d", "e"}
    assert overlapping([]) == set()


def test_overlapping_agrees_with_comparing_every_pair() -> None:
    rng = random.Random(7)
    for _ in range(300):
        objects = []
        for i in range(rng.randint(0, 8)):
            first = rng.randint(0, 60)
            objects.append(_obj(f"k{i}", rng.randint(0, 1), first, first + rng.randint(0, 15)))
        expected = {
            o.key
            for o in objects
            for p in objects
            if o is not p
            and o.partition == p.partition
            and o.first_offset <= p.last_offset
            and p.first_offset <= o.last_offset
        }
        assert overlapping(objects) == expected, objects


# BatchWarehouse.recompute on a fake connection -----------------------------------------------


def _legacy(body: bytes) -> bytes:
    """A master object as an earlier version landed it: no ``lang`` and ``hashtags``."""
    records = [
        {k: v for k, v in r.items() if k not in ("lang", "hashtags")}
        for r in read_master_object(body)
    ]
    return gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records), mtime=0)


def _batch(settings: Settings, store: InMemoryObjectStore, conn: FakeConnection) -> BatchWarehouse:
    warehouse = Warehouse(settings)
    warehouse._conn = conn  # type: ignore[assignment]
    return BatchWarehouse(settings, warehouse, store)


def _ledger(conn: FakeConnection) -> dict[str, tuple[int, int]]:
    (insert,) = statements(load_sql("ledger_insert", "postgres"))
    return {
        params["object_key"]: (params["events"], params["rejects"])
        for text, params in conn.executed
        if text == insert
    }


def test_recompute_on_postgres_counts_while_streaming_and_logs_progress(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store()
    landed = [_land(store, 0, 0, 6, 2), _land(store, 1, 0, 5, 0), _land(store, 0, 8, 0, 3)]
    conn = FakeConnection()
    batch = _batch(load_settings(), store, conn)
    store.calls.clear()
    monkeypatch.setattr(staging, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="batch_layer"):
        assert batch.recompute(TOPIC, lambda: [_listed(o) for o in landed], "r") == 3
    assert _ledger(conn) == {o.key: (o.events, o.rejects) for o in landed}
    assert _ledger(conn) == {
        landed[0].key: (6, 2),
        landed[1].key: (5, 0),
        landed[2].key: (0, 3),
    }
    # One COPY per object and nothing else per object: no counting query.
    copies = [t for t in conn.statements if t.startswith("COPY ")]
    assert len(copies) == 3
    # (The one COUNT is the safety check of the ledger's topics, once per recompute.)
    counts = [t for t in conn.statements if "COUNT(" in t]
    assert len(counts) == 1 and "FROM load_ledger GROUP BY topic" in counts[0]
    assert sum(c.count("\n") for c in conn.copied) == 11
    assert store.calls == {"list_keys": 1}  # the rejects; the objects were handed in
    messages = [r.getMessage() for r in caplog.records]
    progress = [m for m in messages if "/3 objects" in m]
    assert [re.sub(r", [\d,]+ events/s, about [\d.hms]+ left$", "", m) for m in progress] == [
        "recompute: 1/3 objects, 6 events",
        "recompute: 2/3 objects, 11 events",
    ]
    assert messages[-1].startswith("recompute: loaded 3 objects, 11 events and 5 rejects in ")


def test_recompute_on_redshift_reads_first_lines_and_counts_in_one_query(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store()
    current = _land(store, 0, 0, 6, 2)
    old = _land(store, 1, 0, 5, 0)
    legacy = _legacy(store.objects[old.key])
    store.put(old.key, legacy)
    # A second generation's object with the offsets of the first's: counted by streaming.
    gen0 = _land(store, 2, 0, 4, 1)
    messages = [Message(i, TS, _event(50 + i)) for i in range(3)]
    gen1_chunk = encode_chunk(TOPIC, 2, 0, 4, messages, NOW, generation=1)
    gen1 = gen1_chunk.landed
    store.put(gen1.key, gen1_chunk.body)
    landed = [current, old, gen0, gen1]
    count = statements(load_sql("recompute_count", "redshift"))[0]
    # What the one count returns: slots 0 and 1 (the others are not in the ranges); the
    # COPY loaded every line and its history says it rejected none.
    copy_count, history = (
        statements(load_sql(name, "redshift"))[0] for name in ("copy_count", "copy_history")
    )
    conn = FakeConnection({count: [(0, 6), (1, 5)], copy_count: [(18,)], history: [(77, 18, 0)]})
    settings = load_settings(
        warehouse_dialect="redshift",
        redshift_iam_role="arn:aws:iam::123456789012:role/copy",
        s3_bucket="test-bucket",
    )
    batch = _batch(settings, store, conn)
    store.calls.clear()
    monkeypatch.setattr(staging, "PROGRESS_EVERY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="batch_layer"):
        assert batch.recompute(TOPIC, lambda: [_listed(o) for o in landed], "r") == 4
    assert _ledger(conn) == {
        current.key: (6, 2),
        old.key: (5, 0),
        gen0.key: (4, 1),
        gen1.key: (3, 0),
    }
    assert conn.statements.count(count) == 1
    (ranges,) = [t for t in conn.statements if "INSERT INTO recompute_ranges" in t]
    assert ranges.endswith("VALUES (0,0,0,7),(1,1,0,4)")  # the shared offsets left out
    # The legacy object is upgraded once under derived/ and COPY reads that copy.
    derived = f"derived/v3/{old.key}"
    assert store.objects[derived] == upgrade_master_object(legacy)
    manifest = json.loads(store.objects["manifests/r.manifest.json"])
    assert [e["url"].removeprefix("s3://test-bucket/") for e in manifest["entries"]] == [
        current.key,
        derived,
        gen0.key,
        gen1.key,
    ]
    assert store.calls == {"list_keys": 1, "exists": 1}  # the rejects; the derived copy
    messages = [r.getMessage() for r in caplog.records]
    progress = [m for m in messages if "/4 objects" in m]
    assert [m.split(", about ")[0] for m in progress] == [
        f"recompute: checked for COPY: {n}/4 objects" for n in (1, 2, 3)
    ]
    assert messages[-1].startswith("recompute: loaded 4 objects, 18 events and 3 rejects in ")
