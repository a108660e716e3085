"""Landing's C-speed path (batch_layer.master_lines) writes the very bytes today's way
writes: master objects, rejects objects and the CSV rows COPY reads, byte for byte, on
thousands of seeded hostile messages; and each shortcut it takes gives what the rule it
stands for gives (the csv module's quoting, the stamp, to_dict's created_at, the keys).

The reference is today's landing, kept callable here: ``parse_event``, ``event_row``,
``encode_row`` and ``Event.to_dict`` for each message, and the csv module writing the rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from batch_layer.landing import (
    Chunk,
    LandedObject,
    RowsFile,
    _Writer,
    encode_chunk,
    object_key,
    read_master_object,
    reject_record,
)
from batch_layer.master_lines import MasterLines
from batch_layer.staging import CsvStream
from lambda_common.contract import (
    Event,
    normalize_lang,
    normalize_location,
    parse_created_at,
    parse_event,
)
from lambda_common.contract import rows as rows_module
from lambda_common.contract.event import format_created_at
from lambda_common.contract.landed import encode_row, stamp_and_hour, stamp_and_hour_of
from lambda_common.contract.rows import (
    RowKeys,
    csv_quoted,
    csv_values,
    event_row,
    hashtag_keys,
    warehouse_text,
)
from lambda_common.contract.wire import wire_time
from lambda_common.kafka.eventlog import Message

from .hostile_events import NOW, REASONS, TEXTS, TIMES, hostile_values

# What an event can hold: any text but a lone surrogate (the contract refuses those).
EVENT_TEXTS = [t for t in TEXTS if not ("\ud800" in t or "\udfff" in t)]
TS = int(datetime(2026, 11, 20, 23, 59, tzinfo=UTC).timestamp() * 1000)


# --- today's landing, the reference --------------------------------------------------------


class ReferenceRows:
    """Today's RowsFile: the csv module writes every row."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow(csv_values(row))


def reference_chunk(
    topic: str,
    partition: int,
    first: int,
    last: int,
    messages: Iterable[Message],
    now: datetime,
    rows: ReferenceRows,
) -> Chunk:
    """Today's encode_chunk: an Event per message, its row, its line, its CSV."""
    good, bad = _Writer(), _Writer()
    first_ts: int | None = None
    for msg in messages:
        if first_ts is None:
            first_ts = msg.timestamp_ms
        parsed = parse_event(msg.value, now=now)
        if isinstance(parsed, Event):
            row = event_row(parsed, partition, msg.offset)
            line = encode_row(row)
            line["event"] = parsed.to_dict()
            good.write(line)
            rows.write(row)
        else:
            bad.write(reject_record(topic, partition, msg.offset, parsed.reason, msg.value))
    ts = first_ts if first_ts is not None else 0
    key = object_key("master", topic, partition, first, last, ts)
    rejects_key = object_key("rejects", topic, partition, first, last, ts) if bad.count else None
    landed = LandedObject(key, topic, partition, first, last, good.count, bad.count, rejects_key)
    return Chunk(landed, good.finish(), bad.finish() if bad.count else None)


# --- whole chunks --------------------------------------------------------------------------


def _messages(seed: int, count: int, first: int) -> list[Message]:
    values: list[bytes | None] = list(hostile_values(seed, count))
    rng = random.Random(seed)
    for _ in range(count // 200):
        values.insert(rng.randrange(len(values)), rng.choice([None, b"", b"\xff"]))
    return [Message(first + i, TS + i, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("seed", "partition", "first"),
    [(32, 0, 0), (33, 7, 10**12), (34, 2**31 - 1, 2**63 - 7_000)],
    ids=["partition-0", "partition-7", "last-offsets"],
)
def test_master_rejects_and_rows_are_todays_bytes(seed: int, partition: int, first: int) -> None:
    messages = _messages(seed, 6000, first)
    last = messages[-1].offset
    out, expected_out = io.StringIO(), io.StringIO()
    chunk = encode_chunk("tweets", partition, first, last, messages, NOW, RowsFile(out))
    expected = reference_chunk(
        "tweets", partition, first, last, messages, NOW, ReferenceRows(expected_out)
    )
    # Line by line first, so that a failure names the line.
    got_lines = gzip.decompress(chunk.body).split(b"\n")
    for got, want in zip(got_lines, gzip.decompress(expected.body).split(b"\n"), strict=True):
        assert got == want
    assert out.getvalue().split("\n") == expected_out.getvalue().split("\n")
    # Then the objects themselves, and what is known of them.
    assert chunk.body == expected.body
    assert chunk.rejects_body == expected.rejects_body
    assert chunk.landed == expected.landed
    assert out.getvalue() == expected_out.getvalue()
    # The load from S3 (recompute) copies the same CSV as the load of landing's rows.
    from_s3 = io.BufferedReader(CsvStream(read_master_object(chunk.body)), buffer_size=1 << 16)
    assert from_s3.read() == out.getvalue().encode()
    # The messages reach both ways and every reason.
    build = MasterLines(partition, NOW).build
    taken = sum(build(m.offset, m.value) is not None for m in messages)
    assert 800 < taken < chunk.landed.events, (taken, chunk.landed.events)
    assert expected.rejects_body is not None
    reasons = {
        r
        for record in read_master_object(expected.rejects_body)
        for r in REASONS
        if r in record["reason"]
    }
    assert reasons == set(REASONS)


def test_the_reader_clock_judges_alike() -> None:
    messages = _messages(35, 1500, 0)
    for now in (NOW - timedelta(days=10), datetime(1, 1, 1, 2, tzinfo=UTC)):
        out, expected_out = io.StringIO(), io.StringIO()
        chunk = encode_chunk("t", 1, 0, 1500, messages, now, RowsFile(out))
        expected = reference_chunk("t", 1, 0, 1500, messages, now, ReferenceRows(expected_out))
        assert (chunk.body, chunk.rejects_body) == (expected.body, expected.rejects_body)
        assert out.getvalue() == expected_out.getvalue()


def test_an_offset_no_row_takes_is_todays_error() -> None:
    value = next(v for v in hostile_values(1, 50) if isinstance(parse_event(v, now=NOW), Event))
    message = Message(2**63, TS, value)
    assert MasterLines(0, NOW).build(message.offset, message.value) is None
    with pytest.raises(ValueError, match="kafka_offset"):
        encode_chunk("t", 0, 0, 1, [message], NOW)


# --- each shortcut against the rule it stands for -----------------------------------------


def _csv_module(values: list[object]) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow(values)
    return out.getvalue()


def _random_text(rng: random.Random) -> str:
    """Text of any code point (but surrogates) and many of CSV's and JSON's specials."""
    pieces = [rng.choice(EVENT_TEXTS)] + [
        chr(
            rng.choice(
                [rng.randrange(0x80), rng.randrange(0xD800), rng.randrange(0xE000, 0x110000)]
            )
        )
        for _ in range(rng.randrange(8))
    ]
    pieces += rng.choices(['"', '""', ",", "\n", "\r", "\x00", "\\", "'", " "], k=rng.randrange(4))
    rng.shuffle(pieces)
    return "".join(pieces)


def test_csv_quoted_is_the_csv_modules_quote_all() -> None:
    rng = random.Random(32)
    for _ in range(20_000):
        fields = [_random_text(rng) for _ in range(rng.randrange(1, 5))]
        assert ",".join(map(csv_quoted, fields)) + "\n" == _csv_module(fields), fields
    # Every code point but the surrogates, 512 to a field.
    for start in range(0, 0x110000, 512):
        text = "".join(chr(c) for c in range(start, start + 512) if not 0xD800 <= c < 0xE000)
        assert csv_quoted(text) + "\n" == _csv_module([text]), hex(start)


def _random_moment(rng: random.Random) -> datetime:
    moment = datetime(1, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(
            int(
                (datetime(9999, 12, 31, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)).total_seconds()
            )
        ),
    )
    return moment.replace(
        microsecond=rng.choice([0, 1000 * rng.randrange(1000), rng.randrange(10**6)])
    )


def test_the_stamp_read_off_created_at_is_the_stamp() -> None:
    rng = random.Random(32)
    edges = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)]
    edges += [datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]
    for moment in edges + [_random_moment(rng) for _ in range(50_000)]:
        text = format_created_at(moment)
        assert stamp_and_hour_of(text, moment) == stamp_and_hour(moment), moment


def test_wire_time_is_how_to_dict_writes_the_time_read() -> None:
    rng = random.Random(32)
    texts = list(TIMES)
    for _ in range(50_000):
        iso = format_created_at(_random_moment(rng))
        form = rng.randrange(6)
        if form == 1:
            iso = iso[:10] + rng.choice(["t", " "]) + iso[11:]
        elif form == 2:
            iso = iso[:-1] + "z"
        elif form == 3:
            iso = iso[:17] + "60" + iso[19:]
        elif form == 4:
            iso = (
                iso[:19] + iso[19:-1][: rng.randrange(1, 9)] + rng.choice(["Z", "+00:00", "-03:30"])
            )
        texts.append(iso)
    compared = 0
    for text in texts:
        try:
            when = parse_created_at(text)
        except ValueError:
            continue
        assert wire_time(text, when) == format_created_at(when), text
        compared += 1
    assert compared > 40_000


def test_row_keys_are_the_rows_keys_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rows_module, "_CACHE_LIMIT", 64)
    rng = random.Random(32)
    keys = RowKeys()
    raws: list[str | None] = [
        None,
        *EVENT_TEXTS,
        *(_random_text(rng) for _ in range(400)),
        "x" * 300,
    ]
    for _ in range(5_000):
        raw = rng.choice(raws)
        location, location_csv = keys.location(raw)
        assert location == warehouse_text(normalize_location(raw))
        assert location_csv == csv_quoted(location)
        lang, lang_csv = keys.lang(raw)
        assert (lang, lang_csv) == (warehouse_text(normalize_lang(raw)), csv_quoted(lang))
        tags = rng.sample([r for r in raws if r is not None], rng.randrange(4)) or rng.choice(
            [None, []]
        )
        got, got_csv = keys.hashtags(tags)
        event = Event("1", NOW, "u", 0, 0, 0, hashtags=tuple(tags or ()))
        assert got == hashtag_keys(event)
        assert got_csv + "\n" == _csv_module([csv_values(event_row(event, 0, 0))[-1]])
        assert max(map(len, (keys._location, keys._lang, keys._hashtags))) <= 64
    assert "x" * 300 not in keys._location  # too long to keep


def test_naive_and_offset_clocks_give_the_same_master_lines() -> None:
    # A plan's clock is any aware time: its zone changes nothing in what is written.
    messages = _messages(37, 600, 0)
    zoned = NOW.astimezone(timezone(timedelta(hours=-7)))
    assert encode_chunk("t", 0, 0, 600, messages, zoned).body == (
        reference_chunk("t", 0, 0, 600, messages, NOW, ReferenceRows(io.StringIO())).body
    )
