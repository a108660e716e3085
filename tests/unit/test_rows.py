"""An event as a warehouse row (lambda_common.contract.rows): the keys of every view, NUL in the
warehouse, the CSV COPY takes, and master records landed before ``lang``/``hashtags``."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lambda_common.contract import UNKNOWN_LANG, UNKNOWN_LOCATION, Event, EventError
from lambda_common.contract.landed import encode_row
from lambda_common.contract.rows import (
    ROW_COLUMNS,
    csv_values,
    event_row,
    hashtag_keys,
    row_from_master,
    warehouse_text,
)

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 11, 21, 10, 15, 30, 123456, tzinfo=UTC)
# The row columns before lang and hashtags existed (what older versions landed).
OLD_COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("lang", "hashtags"))


def make_event(**changes: Any) -> Event:
    base: dict[str, Any] = {
        "tweet_id": "1861234567890123456",
        "created_at": CREATED,
        "user_id": "42",
        "followers_count": 10,
        "favorite_count": 2,
        "retweet_count": 1,
    }
    return Event(**(base | changes))


def master_record(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """A master-object line as the current landing writes it."""
    return {**encode_row(event_row(event, partition, offset)), "event": event.to_dict()}


def old_master_record(event: Event, partition: int, offset: int) -> dict[str, Any]:
    """The same line as a version before lang and hashtags wrote it (JSON numbers)."""
    row = event_row(event, partition, offset)
    return {**{c: row[c] for c in OLD_COLUMNS}, "event": event.to_dict()}


EVENTS = [
    make_event(),
    make_event(
        location="  Paris \n",
        lang=" PT-br ",
        hashtags=("#Kafka", " kafka ", "Spark", "", "#", "İstanbul"),
        user_name="Ada",
        text="hi #Kafka",
        source="x",
    ),
    make_event(location="Sta\x00vanger", lang="e\x00n", hashtags=("a\x00", "A\ufffd", "b")),
    make_event(lang="", hashtags=("  ",), followers_count=2**63 - 1),
    make_event(created_at=datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), lang="\t"),
]


def test_row_columns_end_with_lang_and_hashtags() -> None:
    assert ROW_COLUMNS[-2:] == ("lang", "hashtags")
    assert ROW_COLUMNS[:2] == ("tweet_id", "created_at")
    assert set(event_row(EVENTS[0], 0, 0)) == set(ROW_COLUMNS)


def test_event_row_holds_every_views_keys() -> None:
    row = event_row(EVENTS[1], 2, 17)
    assert row["event_hour"] == "2026-11-21 10:00:00"
    assert row["created_at"] == "2026-11-21 10:15:30.123456"
    assert row["location"] == "Paris"
    assert row["lang"] == "pt-br"
    assert row["hashtags"] == ["kafka", "spark", "i\u0307stanbul"]
    assert (row["kafka_partition"], row["kafka_offset"]) == (2, 17)


def test_absent_lang_and_hashtags() -> None:
    row = event_row(EVENTS[0], 0, 0)
    assert row["lang"] == UNKNOWN_LANG
    assert row["location"] == UNKNOWN_LOCATION
    assert row["hashtags"] == []
    assert hashtag_keys(EVENTS[0]) == []
    assert event_row(EVENTS[3], 0, 0)["lang"] == UNKNOWN_LANG
    assert event_row(EVENTS[3], 0, 0)["hashtags"] == []


def test_nul_becomes_u_fffd_in_every_key_and_keys_stay_distinct() -> None:
    row = event_row(EVENTS[2], 0, 0)
    assert row["location"] == "Sta\ufffdvanger"
    assert row["lang"] == "e\ufffdn"
    # "a\x00" and "a\ufffd" are two keys for the contract but one in the warehouse.
    assert EVENTS[2].hashtag_keys == ("a\x00", "a\ufffd", "b")
    assert hashtag_keys(EVENTS[2]) == ["a\ufffd", "b"]
    assert row["hashtags"] == ["a\ufffd", "b"]
    assert warehouse_text("no nul") == "no nul"


def test_csv_values_follow_row_columns_with_hashtags_as_a_json_array() -> None:
    row = event_row(EVENTS[1], 1, 5)
    values = csv_values(row)
    assert len(values) == len(ROW_COLUMNS)
    for column, value in zip(ROW_COLUMNS, values, strict=True):
        if column != "hashtags":
            assert value == row[column], column
    text = values[ROW_COLUMNS.index("hashtags")]
    assert text == '["kafka","spark","i\u0307stanbul"]'  # compact, non-ASCII kept
    assert json.loads(text) == row["hashtags"]
    assert csv_values(event_row(EVENTS[0], 0, 0))[-1] == "[]"
    assert row["hashtags"] == ["kafka", "spark", "i\u0307stanbul"]  # the row is unchanged


@pytest.mark.parametrize("event", EVENTS, ids=range(len(EVENTS)))
def test_csv_values_round_trip_through_csv(event: Event) -> None:
    row = event_row(event, 0, 3)
    buffer = io.StringIO()
    csv.writer(buffer).writerow(csv_values(row))
    (read,) = csv.reader(io.StringIO(buffer.getvalue()))
    back = dict(zip(ROW_COLUMNS, read, strict=True))
    assert json.loads(back["hashtags"]) == row["hashtags"]
    assert back["lang"] == row["lang"]
    assert back["location"] == row["location"]
    assert int(back["followers_count"]) == event.followers_count


@pytest.mark.parametrize("event", EVENTS, ids=range(len(EVENTS)))
def test_an_old_master_record_gives_the_row_a_new_one_gives(event: Event) -> None:
    new = master_record(event, 1, 42)
    old = old_master_record(event, 1, 42)
    assert "hashtags" not in old and "lang" not in old
    from_old = row_from_master(old)
    from_new = row_from_master(new)
    for column in ROW_COLUMNS:
        assert from_old[column] == from_new[column], column
    assert csv_values(from_old) == csv_values(from_new)
    assert from_old == event_row(event, 1, 42)


def test_a_new_master_record_gives_its_row_back_with_integers() -> None:
    new = master_record(EVENTS[1], 0, 1)
    assert new["followers_count"] == "10" and new["kafka_offset"] == "1"
    assert row_from_master(new) == event_row(EVENTS[1], 0, 1)


def test_an_old_record_is_derived_from_the_event_not_its_stale_columns() -> None:
    old = old_master_record(EVENTS[1], 0, 9) | {"location": "stale"}
    assert row_from_master(old)["location"] == "Paris"
    assert row_from_master(old)["kafka_offset"] == 9


def test_an_old_record_of_an_event_far_ahead_of_the_clock_is_still_read() -> None:
    # The clock judged it when it was landed: recompute years later must not reject it,
    # and neither must a recompute on a machine whose clock is behind.
    event = make_event(created_at=datetime(2999, 1, 1, tzinfo=UTC), hashtags=("X",))
    assert row_from_master(old_master_record(event, 0, 0))["hashtags"] == ["x"]


def test_an_old_record_with_an_event_the_contract_refuses_raises() -> None:
    old = old_master_record(EVENTS[0], 0, 0)
    old["event"] = {**old["event"], "followers_count": -1}
    with pytest.raises(EventError):
        row_from_master(old)
