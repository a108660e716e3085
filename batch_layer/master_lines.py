"""A valid message's master line and CSV row, built from the contract's Struct.

Landing writes, for each valid event, one master object line (``encode_row`` of the
``event_row`` plus the event as ``Event.to_dict`` gives it, see ``batch_layer.landing``)
and one CSV row for COPY (``csv_values``, written by the csv module). For a message the
contract's fast path takes (:func:`lambda_common.contract.plain_struct`, every rule of
``parse_event``), its Struct put in the wire's form (:func:`lambda_common.contract.wire.wire_form`),
:class:`MasterLines` builds the same two without an Event: the line as a msgspec Struct
whose fields are ``ROW_COLUMNS`` and ``event`` (encoded in C), the grouping keys
from a cache per distinct raw value, with their CSV fields
(:class:`lambda_common.contract.rows.RowKeys`), and the CSV row as text in the csv module's
quoting (:func:`lambda_common.contract.rows.csv_quoted`).

A message it declines gets None, and landing takes today's way for it. That both ways
give the same bytes, master line and CSV row alike, is proven on thousands of hostile
messages by tests/unit/test_landing_equivalence.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from lambda_common.contract import plain_struct
from lambda_common.contract.landed import stamp_and_hour_of
from lambda_common.contract.rows import ROW_COLUMNS, RowKeys, csv_quoted, warehouse_text
from lambda_common.contract.wire import encode_struct, wire_form

# A master line: the row's columns in order, then the event (the key order encode_json
# writes a dict of encode_row's row plus "event" in).
_MasterLine: Any = msgspec.defstruct("MasterLine", [*ROW_COLUMNS, "event"])

# Kafka offsets and partitions are below this, as encode_row requires of them.
_INT_LIMIT = 2**63


class MasterLines:
    """Master lines and CSV rows of one partition's messages, judged at ``now``."""

    def __init__(self, partition: int, now: datetime) -> None:
        self._now = now
        self._partition = str(partition) if 0 <= partition < _INT_LIMIT else None
        self._keys = RowKeys()

    def build(self, offset: int, value: bytes | None) -> tuple[bytes, str] | None:
        """The master line (JSON, no newline) and CSV row (with its newline) of the event
        in ``value`` at ``offset``; None where the contract's fast path declines it (or
        the offset is none ``encode_row`` takes), for today's way to judge."""
        if type(value) is not bytes or self._partition is None or not 0 <= offset < _INT_LIMIT:
            return None
        checked = plain_struct(value, now=self._now)
        if checked is None:
            return None
        plain, when = checked
        wire_form(plain, when)
        stamp, hour = stamp_and_hour_of(plain.created_at, when)
        location, location_csv = self._keys.location(plain.location)
        lang, lang_csv = self._keys.lang(plain.lang)
        hashtags, hashtags_csv = self._keys.hashtags(plain.hashtags)
        user_id = warehouse_text(plain.user_id)
        followers = str(plain.followers_count)
        favorites = str(plain.favorite_count)
        retweets = str(plain.retweet_count)
        partition, at = self._partition, str(offset)
        line = _MasterLine(
            plain.tweet_id,
            stamp,
            hour,
            location,
            user_id,
            followers,
            favorites,
            retweets,
            partition,
            at,
            lang,
            hashtags,
            plain,
        )
        # ROW_COLUMNS' order; the quoted fields are digits and timestamps, which hold no
        # double quote, so they need none doubled.
        row = (
            f'"{plain.tweet_id}","{stamp}","{hour}",{location_csv},{csv_quoted(user_id)},'
            f'"{followers}","{favorites}","{retweets}","{partition}","{at}",'
            f"{lang_csv},{hashtags_csv}\n"
        )
        return encode_struct(line), row
