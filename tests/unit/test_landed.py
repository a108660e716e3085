"""The landed line's form (lambda_common.contract.landed): integers as JSON strings, four-digit
years, read back whichever version wrote them; the edge values of the contract (counts 0
and 2^63 - 1, years 0001 and 0999) and hostile values, through a whole master object and
the CSV the PostgreSQL load copies."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from batch_layer.landing import (
    RowsFile,
    encode_chunk,
    master_record,
    read_master_object,
    same_rows,
)
from lambda_common.contract import Event
from lambda_common.contract.landed import (
    INT_COLUMNS,
    LandedLineError,
    decode_row,
    encode_row,
    is_current,
    stamp_and_hour,
)
from lambda_common.contract.rows import ROW_COLUMNS, csv_values, event_row, row_from_master
from lambda_common.kafka.eventlog import Message

TOP = 2**63 - 1
NOW = datetime(2026, 11, 21, 12, 5, tzinfo=UTC)


def counted_event(tweet_id: str, created_at: datetime, count: int, **more: Any) -> Event:
    return Event(
        tweet_id=tweet_id,
        created_at=created_at,
        user_id="u",
        followers_count=count,
        favorite_count=count,
        retweet_count=count,
        **more,
    )


EDGES = [
    counted_event("1", datetime(1, 1, 1, tzinfo=UTC), 0),
    counted_event("2", datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), TOP),
    counted_event("3", datetime(1000, 1, 1, 0, 0, 0, 1, tzinfo=UTC), 1),
    counted_event("4", datetime(1970, 1, 1, tzinfo=UTC), TOP - 1),
    counted_event("5", datetime(2026, 11, 21, 10, 15, 30, 123456, tzinfo=UTC), 2**53 + 1),
]


@pytest.mark.parametrize(
    ("moment", "stamp", "hour"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01 00:00:00.000000", "0001-01-01 00:00:00"),
        (
            datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
            "0999-03-04 05:06:07.000008",
            "0999-03-04 05:00:00",
        ),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01 00:00:00.000000", "1000-01-01 00:00:00"),
        (
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "9999-12-31 23:59:59.999999",
            "9999-12-31 23:00:00",
        ),
    ],
)
def test_timestamps_have_four_digit_years_and_microseconds(
    moment: datetime, stamp: str, hour: str
) -> None:
    assert stamp_and_hour(moment) == (stamp, hour)


def test_a_utc_offset_is_never_written() -> None:
    # Events are in UTC by then; a naive or offset time still writes no offset text.
    assert stamp_and_hour(datetime(999, 1, 1, tzinfo=timezone(timedelta(hours=2))))[0] == (
        "0999-01-01 00:00:00.000000"
    )
    assert stamp_and_hour(datetime(2026, 1, 1))[1] == "2026-01-01 00:00:00"


@pytest.mark.parametrize("event", EDGES, ids=lambda e: e.tweet_id)
def test_a_row_round_trips_through_its_landed_line_exactly(event: Event) -> None:
    row = event_row(event, 2, TOP)
    line = encode_row(row)
    assert {n: line[n] for n in INT_COLUMNS} == {n: str(row[n]) for n in INT_COLUMNS}
    assert row == event_row(event, 2, TOP)  # encoding copies, never changes the row
    text = json.dumps(line, ensure_ascii=False)
    assert f'"followers_count": "{event.followers_count}"' in text  # a string, not a number
    assert decode_row(json.loads(text)) == row
    assert is_current(line) and not is_current(row)


@pytest.mark.parametrize("bad", [-1, 2**63, True, 1.0, "1", None])
def test_encoding_refuses_what_is_no_count(bad: object) -> None:
    row = event_row(EDGES[0], 0, 0) | {"retweet_count": bad}
    with pytest.raises(ValueError, match="'retweet_count' must be an integer"):
        encode_row(row)


@pytest.mark.parametrize(
    "bad",
    [
        "1e3",
        " 1",
        "1 ",
        "1\n",
        "+1",
        "-1",
        "01",
        "00",
        "",
        "1_000",
        "0x10",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: int() would take it
        "\uff11",  # FULLWIDTH DIGIT ONE
        "9223372036854775808",
        "99999999999999999999",
        True,
        False,
        1.0,
        None,
        [1],
        -1,
        2**63,
    ],
)
def test_reading_refuses_a_count_no_version_writes(bad: object) -> None:
    line = encode_row(event_row(EDGES[1], 0, 0)) | {"favorite_count": bad}
    with pytest.raises(LandedLineError, match="'favorite_count'"):
        decode_row(line)


@pytest.mark.parametrize("value", [0, TOP, "0", str(TOP)])
def test_reading_takes_both_forms_of_the_edge_counts(value: object) -> None:
    line = encode_row(event_row(EDGES[0], 0, 0)) | {"kafka_offset": value}
    assert decode_row(line)["kafka_offset"] == int(str(value))


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("1-01-01 00:00:00.000000", "0001-01-01 00:00:00.000000"),  # glibc strftime, year 1
        ("99-01-01 00:00:00", "0099-01-01 00:00:00"),
        ("999-12-31 23:00:00", "0999-12-31 23:00:00"),
        ("0999-12-31 23:59:59.999999", "0999-12-31 23:59:59.999999"),
        ("2026-11-21 10:00:00", "2026-11-21 10:00:00"),
    ],
)
def test_reading_pads_the_years_earlier_versions_wrote(written: str, read: str) -> None:
    line = encode_row(event_row(EDGES[0], 0, 0)) | {"event_hour": written}
    assert decode_row(line)["event_hour"] == read


@pytest.mark.parametrize(
    "bad",
    [
        "10000-01-01 00:00:00",
        "2026-1-01 00:00:00",
        "2026-11-21T10:00:00",
        "2026-11-21 10:00:00Z",
        "2026-11-21 10:00:00+00:00",
        "2026-11-21 10:00:00.123",
        "2026-11-21",
        "",
        "\u0662026-11-21 10:00:00",
        20261121,
        None,
    ],
)
def test_reading_refuses_a_timestamp_no_version_writes(bad: object) -> None:
    line = encode_row(event_row(EDGES[0], 0, 0)) | {"created_at": bad}
    with pytest.raises(LandedLineError, match="'created_at' is not a timestamp"):
        decode_row(line)


HOSTILE = [
    "12345",
    "9223372036854775808",
    '"},"followers_count":"1',
    "\\",
    "\\u0000",
    "a\x00b",
    "\u2028\u2029",
    "line\nbreak\r\t",
    "😀" * 10,
    "1e3",
    "null",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_stays_text_and_never_reaches_a_count(text: str) -> None:
    event = counted_event("7", datetime(999, 1, 1, tzinfo=UTC), TOP, location=text, user_name=text)
    event = Event(**{**_fields(event), "user_id": text or "u", "lang": text})
    record = master_record(event, 0, 5)
    back = json.loads(json.dumps(record, ensure_ascii=False))
    row = row_from_master(back)
    assert row == event_row(event, 0, 5)
    assert row["followers_count"] == TOP and row["kafka_offset"] == 5
    assert row["user_id"] == text.replace("\x00", "\ufffd")
    assert back["event"]["location"] == text  # the event itself is kept verbatim


def _fields(event: Event) -> dict[str, Any]:
    return {name: getattr(event, name) for name in Event.__dataclass_fields__}


def test_a_master_object_of_the_edge_values_gives_the_csv_of_the_exact_values() -> None:
    messages = [Message(i, 0, e.to_json_bytes()) for i, e in enumerate(EDGES)]
    out = io.StringIO()
    chunk = encode_chunk("tweets", 0, 0, len(EDGES) - 1, messages, NOW, RowsFile(out))
    assert chunk.landed.events == len(EDGES)
    text = gzip.decompress(chunk.body).decode()
    assert '"followers_count":"9223372036854775807"' in text
    assert '"created_at":"0001-01-01 00:00:00.000000"' in text
    assert '"event_hour":"0999-12-31 23:00:00"' in text
    rows = [row_from_master(r) for r in read_master_object(chunk.body)]
    assert rows == [event_row(e, 0, i) for i, e in enumerate(EDGES)]
    # The CSV landing wrote for the PostgreSQL COPY: the very same values as text.
    written = list(csv.reader(io.StringIO(out.getvalue())))
    by_column = [dict(zip(ROW_COLUMNS, values, strict=True)) for values in written]
    assert [r["followers_count"] for r in by_column] == [str(e.followers_count) for e in EDGES]
    assert [r["created_at"] for r in by_column][:2] == [
        "0001-01-01 00:00:00.000000",
        "0999-12-31 23:59:59.999999",
    ]
    assert written == [[str(v) for v in csv_values(r)] for r in rows]


def older_form(body: bytes) -> bytes:
    """A master object as a version before this rule wrote it: JSON numbers, and years
    below 1000 as glibc's strftime wrote them (unpadded)."""
    lines = []
    for record in read_master_object(body):
        row = row_from_master(record)
        for name in ("created_at", "event_hour"):
            row[name] = row[name].lstrip("0") if row[name].startswith("0") else row[name]
        lines.append(json.dumps({**row, "event": record["event"]}).encode())
    return gzip.compress(b"\n".join(lines) + b"\n", mtime=0)


def test_an_object_in_the_older_form_holds_the_same_rows_and_other_rows_do_not() -> None:
    messages = [Message(i, 0, e.to_json_bytes()) for i, e in enumerate(EDGES)]
    body = encode_chunk("tweets", 0, 0, len(EDGES) - 1, messages, NOW).body
    older = older_form(body)
    assert b'"created_at": "1-01-01 00:00:00.000000"' in gzip.decompress(older)
    assert older != body and same_rows(older, body) and same_rows(body, body)
    first = next(read_master_object(older))
    assert not is_current(first) and is_current(next(read_master_object(body)))
    shorter = encode_chunk("tweets", 0, 0, 3, messages[:4], NOW).body
    assert not same_rows(body, shorter) and not same_rows(shorter, body)
    other = [Message(i, 0, e.to_json_bytes()) for i, e in enumerate(reversed(EDGES))]
    assert not same_rows(body, encode_chunk("tweets", 0, 0, 4, other, NOW).body)
    assert not same_rows(gzip.compress(b"something else\n"), body)
    assert not same_rows(b"not gzip", body)
