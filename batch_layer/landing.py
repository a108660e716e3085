"""Landing: Kafka offsets -> immutable gzip JSON-lines objects in S3 (the master dataset).

Exactly-once rests on three pure rules kept here:

1. **A plan per partition, written before any object.** For a partition whose committed
   offset is ``start``, the plan ``[start, end)`` is stored at a key that depends only on
   (topic, partition, start). A re-run after a crash finds it and redoes the same range,
   whatever has arrived since, so it writes the very same objects.
2. **Object keys are a pure function of the records they hold**: topic, partition, first
   and last offset, under a date prefix taken from the first record's Kafka timestamp
   (immutable, so a re-run computes the same date).
3. **Chunking is fixed by the plan**: objects hold ``chunk_events`` offsets each from
   ``start``, so boundaries do not depend on timing.

Offsets move only after the objects are loaded (see ``cycle``).
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice, zip_longest
from time import perf_counter
from typing import IO, Any

from batch_layer.master_lines import MasterLines
from lambda_common.contract import Event, encode_json, parse_event
from lambda_common.contract.landed import encode_row
from lambda_common.contract.rows import csv_values, event_row, row_from_master
from lambda_common.kafka.eventlog import Message

CHUNK_EVENTS = 100_000
# gzip level of the objects: 3 is ~15% bigger than the default 6 at under half the
# CPU (landing is CPU-bound). Any level reads back the same; the bytes only need to be
# stable for the same records, which mtime=0 and a fixed level give.
GZIP_LEVEL = 3
# Lines handed to gzip per write: one write per line costs more than the compression.
_LINES_PER_WRITE = 1000
MASTER_PREFIX = "master"
REJECTS_PREFIX = "rejects"
PLANS_PREFIX = "plans"
# Objects derived from master objects, never the master dataset itself: the upgraded
# copies Redshift's COPY reads of objects an earlier version landed in an earlier line
# form (see lambda_common.contract.landed). v2 copies (bare JSON numbers) are no longer read.
DERIVED_PREFIX = "derived/v3"


@dataclass(frozen=True)
class PartitionPlan:
    """Offsets ``[start, end)`` of one partition, to land in one cycle.

    ``topic_id`` is the Kafka topic incarnation the plan was made for (None: unknown, an
    older broker or plan), ``generation`` the batch layer's number for it (see
    ``batch_topics``), and ``judged_at`` the clock (ISO 8601 UTC) that judges "more than
    an hour in the future": a redo judges with the same clock, so it writes the same
    objects. Plans stored by earlier versions lack these and read back as None/0/None.
    """

    topic: str
    partition: int
    start: int
    end: int
    chunk_events: int = CHUNK_EVENTS
    topic_id: str | None = None
    generation: int = 0
    judged_at: str | None = None

    @property
    def key(self) -> str:
        return plan_key(self.topic, self.partition, self.start, self.generation)

    def clock(self, default: datetime) -> datetime:
        """The moment event times are judged against (``default`` for older plans)."""
        return datetime.fromisoformat(self.judged_at) if self.judged_at else default

    def chunks(self) -> list[tuple[int, int]]:
        """``(first, last)`` offsets (inclusive) of each object, fixed by the plan."""
        return [
            (first, min(first + self.chunk_events, self.end) - 1)
            for first in range(self.start, self.end, self.chunk_events)
        ]

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> PartitionPlan:
        return cls(**json.loads(raw))


def _topic_path(topic: str, generation: int) -> str:
    # Generation 0 keeps the layout of the first version; later incarnations of a topic
    # (after make batch-reset) get their own folder, so no key is ever shared with an
    # older incarnation's object of the same offsets.
    return f"topic={topic}" if generation == 0 else f"topic={topic}/gen={generation}"


def plan_key(topic: str, partition: int, start: int, generation: int = 0) -> str:
    """Where the plan starting at ``start`` lives."""
    folder = f"{PLANS_PREFIX}/{_topic_path(topic, generation)}/partition={partition}"
    return f"{folder}/from-{start:020d}.json"


def plans_prefix(topic: str) -> str:
    """Where every plan of a topic lives (all generations)."""
    return f"{PLANS_PREFIX}/topic={topic}/"


_KEY = re.compile(r"/partition=(\d+)/[^/]+-(\d{20})-(\d{20})\.jsonl\.gz$")


def parse_object_key(key: str) -> tuple[int, int, int]:
    """``(partition, first, last)`` of an object key (inverse of ``object_key``)."""
    match = _KEY.search(key)
    if match is None:
        raise ValueError(f"not a master object key: {key}")
    return int(match[1]), int(match[2]), int(match[3])


def master_prefix(topic: str) -> str:
    """Where every master object of a topic lives."""
    return f"{MASTER_PREFIX}/topic={topic}/"


def rejects_prefix(topic: str) -> str:
    """Where every rejects object of a topic lives (all generations)."""
    return f"{REJECTS_PREFIX}/topic={topic}/"


def rejects_key_of(master_key: str) -> str:
    """The key a master object's rejects object has, when its chunk had any (both keys
    are ``object_key`` of the same chunk, under their own prefixes)."""
    return REJECTS_PREFIX + master_key.removeprefix(MASTER_PREFIX)


def object_key(
    prefix: str,
    topic: str,
    partition: int,
    first: int,
    last: int,
    first_ts_ms: int,
    generation: int = 0,
) -> str:
    """The S3 key of the object holding offsets ``first..last`` of a partition."""
    day = datetime.fromtimestamp(first_ts_ms / 1000, UTC).strftime("%Y-%m-%d")
    return (
        f"{prefix}/{_topic_path(topic, generation)}/dt={day}/partition={partition}/"
        f"{topic}-{partition}-{first:020d}-{last:020d}.jsonl.gz"
    )


@dataclass
class LandedObject:
    """One written master-dataset object and what it holds."""

    key: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    events: int
    rejects: int
    rejects_key: str | None = None
    # Where landing left this object's warehouse rows as CSV (see ``RowsFile``), so the
    # load need not download and decode the object again; None: read it from S3.
    rows_path: str | None = None
    # The object holds this chunk's rows in an earlier version's line form (a redo found
    # it landed before an upgrade): Redshift's COPY reads an upgraded copy of it.
    older_form: bool = False
    # Seconds of each phase of landing it (``batch_layer.timings``): not part of what
    # the object is, so never compared.
    phases: dict[str, float] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class _Writer:
    """gzip JSON lines, compressed as they come (memory bounded by the compressed size).

    Each line is :func:`encode_json` of a record (the bytes of ``json.dumps(
    ensure_ascii=False, separators=(",", ":"))``), so a redo of a chunk computes the very
    same object. A chunk an earlier version landed differs in its values' form only (see
    :func:`same_rows`).
    """

    buffer: io.BytesIO = field(default_factory=io.BytesIO)
    count: int = 0
    _lines: list[bytes] = field(default_factory=list)
    # Seconds spent compressing (timed per write of _LINES_PER_WRITE lines).
    gzip_s: float = 0.0

    def __post_init__(self) -> None:
        # mtime=0: the same records give the same bytes, so a rewrite is identical.
        self._gzip = gzip.GzipFile(
            fileobj=self.buffer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
        )

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(encode_json(record))

    def write_line(self, line: bytes) -> None:
        """One record already encoded (:func:`encode_json`, no newline)."""
        self._lines.append(line)
        self.count += 1
        if len(self._lines) >= _LINES_PER_WRITE:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            started = perf_counter()
            self._lines.append(b"")  # so the join ends the last line too
            self._gzip.write(b"\n".join(self._lines))
            self._lines.clear()
            self.gzip_s += perf_counter() - started

    def finish(self) -> bytes:
        self._flush()
        started = perf_counter()
        self._gzip.close()
        self.gzip_s += perf_counter() - started
        return self.buffer.getvalue()


class RowsFile:
    """The warehouse rows of a chunk as CSV, the form ``COPY ... FROM STDIN`` reads.

    QUOTE_ALL: in PostgreSQL's CSV an unquoted empty field is NULL, a quoted one ''.
    """

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._text = io.StringIO()
        self._writer = csv.writer(self._text, quoting=csv.QUOTE_ALL, lineterminator="\n")
        self._pending: list[str] = []
        # Seconds spent writing the rows out (timed per write of _LINES_PER_WRITE rows).
        self.write_s = 0.0

    def write(self, row: dict[str, Any]) -> None:
        """One row, written by the csv module."""
        self._writer.writerow(csv_values(row))
        self.write_line(self._text.getvalue())
        self._text.seek(0)
        self._text.truncate()

    def write_line(self, line: str) -> None:
        """One row already written as the csv module writes it (with its newline)."""
        self._pending.append(line)
        if len(self._pending) >= _LINES_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        """Write the rows held back so far."""
        started = perf_counter()
        self._out.write("".join(self._pending))
        self._pending.clear()
        self.write_s += perf_counter() - started


def master_record(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """One line of a master object: the warehouse row in its landed form
    (:func:`lambda_common.contract.landed.encode_row`) plus the event verbatim."""
    return {**encode_row(event_row(event, partition, offset)), "event": event.to_dict()}


def reject_record(
    topic: str, partition: int, offset: int, reason: str, value: bytes | None
) -> dict[str, Any]:
    """One line of a rejects object: where it was, why, and the exact bytes (base64)."""
    raw = value or b""
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "value_b64": base64.b64encode(raw).decode(),
        "value_preview": raw[:200].decode("utf-8", errors="backslashreplace"),
    }


@dataclass
class Chunk:
    """The encoded objects of one chunk, ready to upload, and the seconds each phase of
    encoding it took (``batch_layer.timings``)."""

    landed: LandedObject
    body: bytes
    rejects_body: bytes | None
    phases: dict[str, float] = field(default_factory=dict)


def encode_chunk(
    topic: str,
    partition: int,
    first: int,
    last: int,
    messages: Iterable[Message],
    now: datetime,
    rows: RowsFile | None = None,
    generation: int = 0,
) -> Chunk:
    """Validate the chunk's messages and encode the master (and rejects) objects.

    ``rows``, when given, also receives the warehouse row of every valid event (the
    master object's rows, in its order) for the load.
    """
    good, bad = _Writer(), _Writer()
    build, write_line = MasterLines(partition, now).build, good.write_line
    write_row = rows.write_line if rows is not None else None
    first_ts: int | None = None
    # The messages are taken _LINES_PER_WRITE at a time, so reading them from Kafka and
    # encoding them are timed apart with two clock reads per batch, none per message.
    source, read_s, work_s = iter(messages), 0.0, 0.0
    while True:
        started = perf_counter()
        batch = list(islice(source, _LINES_PER_WRITE))
        read = perf_counter()
        read_s += read - started
        if not batch:
            break
        if first_ts is None:
            first_ts = batch[0].timestamp_ms
        for msg in batch:
            built = build(msg.offset, msg.value)
            if built is not None:
                # The contract's fast path took it: the same line and row, without an Event.
                write_line(built[0])
                if write_row is not None:
                    write_row(built[1])
                continue
            parsed = parse_event(msg.value, now=now)
            if isinstance(parsed, Event):
                # master_record, with the row built once for the object and the CSV: "event"
                # goes last, as in master_record; the CSV takes the row's own values.
                row = event_row(parsed, partition, msg.offset)
                line = encode_row(row)
                line["event"] = parsed.to_dict()
                good.write(line)
                if rows is not None:
                    rows.write(row)
            else:
                bad.write(reject_record(topic, partition, msg.offset, parsed.reason, msg.value))
        work_s += perf_counter() - read
    # The compressing and CSV writing done inside the loop, to tell the encoding apart.
    aside = good.gzip_s + bad.gzip_s + (rows.write_s if rows is not None else 0.0)
    if rows is not None:
        rows.flush()
    ts = first_ts if first_ts is not None else 0
    key = object_key(MASTER_PREFIX, topic, partition, first, last, ts, generation)
    rejects_key = (
        object_key(REJECTS_PREFIX, topic, partition, first, last, ts, generation)
        if bad.count
        else None
    )
    landed = LandedObject(key, topic, partition, first, last, good.count, bad.count, rejects_key)
    body, rejects_body = good.finish(), bad.finish() if bad.count else None
    gzip_s = good.gzip_s + bad.gzip_s
    csv_s = rows.write_s if rows is not None else 0.0
    phases = {
        "kafka read": read_s,
        # What the loop spent beyond compressing and writing the CSV: decoding,
        # validating, normalising the keys, encoding the master line and the CSV row.
        "decode+normalise+encode": max(work_s - aside, 0.0),
        "gzip": gzip_s,
        "csv": csv_s,
    }
    return Chunk(landed, body, rejects_body, phases)


def read_master_object(body: bytes) -> Iterator[dict[str, Any]]:
    """The records of a master (or rejects) object held in memory."""
    return stream_master_records(io.BytesIO(body))


def stream_master_records(stream: IO[bytes]) -> Generator[dict[str, Any], None, None]:
    """The records of a master (or rejects) object, decompressed and decoded as the
    stream is read: memory holds a line at a time, never the object."""
    with gzip.GzipFile(fileobj=stream) as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def count_master_records(stream: IO[bytes]) -> int:
    """How many records a master (or rejects) object holds, read as a stream: its lines
    are counted, not decoded (each record is one line, see ``_Writer``)."""
    with gzip.GzipFile(fileobj=stream) as handle:
        return sum(1 for line in handle if line.strip())


def upgrade_master_object(body: bytes | IO[bytes]) -> bytes:
    """A master object's records in the current form (each row read by ``row_from_master``:
    its values in the current form, derived again from the event it keeps verbatim when
    it lacks ``lang`` and ``hashtags``), gzip JSON lines as landing writes them, line for
    line. ``body`` may be a stream: it is then read as it is decoded."""
    out = _Writer()
    source = io.BytesIO(body) if isinstance(body, bytes) else body
    for record in stream_master_records(source):
        line = encode_row(row_from_master(record))
        line["event"] = record["event"]
        out.write(line)
    return out.finish()


def same_rows(landed: bytes, computed: bytes) -> bool:
    """Whether two master objects hold the same rows and events, line for line, whatever
    the form of their values (an object an earlier version landed, and this version's
    redo of its chunk)."""
    try:
        pairs = zip_longest(read_master_object(landed), read_master_object(computed))
        return all(
            a is not None
            and b is not None
            and a["event"] == b["event"]
            and row_from_master(a) == row_from_master(b)
            for a, b in pairs
        )
    except (OSError, EOFError, ValueError, KeyError, TypeError):
        # Not gzip JSON lines of master records at all: certainly not the same rows.
        return False


def master_key_of(key: str) -> str:
    """The master object a key COPY read stands for: itself, or the object a derived copy
    (``DERIVED_PREFIX``) was made from."""
    return key.removeprefix(DERIVED_PREFIX + "/")
