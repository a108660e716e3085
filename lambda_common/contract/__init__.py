"""The event on Kafka: the one definition of a valid tweet event (CONTRACT.md, section 1).

Every producer builds its messages with :class:`Event` and every consumer (batch layer,
speed layer, replay) decides valid vs rejected with :func:`parse_event`, so the layers
cannot drift apart on what counts. The rules live here and nowhere else:

* the value is one UTF-8 JSON object; unknown fields are ignored; ``null`` is absent;
* required: ``tweet_id`` (1 to 19 ASCII digits), ``created_at`` (RFC 3339 with an
  offset), ``user_id`` (a string of 1 to 256 code points) and the three counts (JSON
  integers, ``0 <= n < 2**63``);
* optional: ``user_name``, ``location``, ``lang``, ``text`` (strings), ``hashtags``
  (array of strings), ``source`` (``synthetic``, ``x`` or ``replay``);
* ``created_at`` more than one hour ahead of the reader's clock is rejected;
* grouping uses :func:`normalize_location`, :func:`normalize_hashtags` and
  :func:`normalize_lang` (CONTRACT section 2b, :mod:`.keys`): every layer takes its keys
  from here.

With msgspec (a C JSON library, pinned in pyproject.toml) the common case, a plainly
valid event, is decoded, type-checked and encoded in C. Without it (a Spark executor's
bare Python, which gets only the code in a zip) the standard library alone gives the
very same events, reasons and bytes, more slowly: msgspec is only ever a short cut.

The package: :mod:`.event` (the Event and its rules), :mod:`.keys` (the grouping keys),
:mod:`.parse` (bytes to an Event or a reason), :mod:`.fast` (msgspec's short cut for the
common case) and :mod:`.depth` (the nesting limit both paths share); the event's other
forms are :mod:`.wire` (on Kafka, without an Event), :mod:`.landed` (in the master
dataset) and :mod:`.rows` (in the warehouse), imported by name (they need msgspec or
serve one layer). This module holds no code of its own: it names the public API.
"""

from __future__ import annotations

from lambda_common.contract.depth import MAX_NESTING
from lambda_common.contract.event import (
    COUNT_FIELDS,
    MAX_FUTURE_SKEW,
    MAX_USER_ID_CHARS,
    REQUIRED_FIELDS,
    SOURCES,
    Event,
    EventError,
    Rejection,
    encode_json,
    event_from_dict,
    parse_created_at,
    validate_event,
)
from lambda_common.contract.fast import plain_event, plain_struct
from lambda_common.contract.keys import (
    MAX_HASHTAG_CHARS,
    MAX_LANG_CHARS,
    MAX_LOCATION_CHARS,
    UNKNOWN_LANG,
    UNKNOWN_LOCATION,
    normalize_hashtags,
    normalize_lang,
    normalize_location,
)
from lambda_common.contract.parse import parse_event

__all__ = [
    "COUNT_FIELDS",
    "MAX_FUTURE_SKEW",
    "MAX_HASHTAG_CHARS",
    "MAX_LANG_CHARS",
    "MAX_LOCATION_CHARS",
    "MAX_NESTING",
    "MAX_USER_ID_CHARS",
    "REQUIRED_FIELDS",
    "SOURCES",
    "UNKNOWN_LANG",
    "UNKNOWN_LOCATION",
    "Event",
    "EventError",
    "Rejection",
    "encode_json",
    "event_from_dict",
    "normalize_hashtags",
    "normalize_lang",
    "normalize_location",
    "parse_created_at",
    "parse_event",
    "plain_event",
    "plain_struct",
    "validate_event",
]
