"""History for the batch-history benchmark: ``raw_tweets`` and ``raw_hashtags`` rows
written straight into a lane's warehouse schema with set-based SQL, as if earlier batch
cycles had loaded them.

Every row is one a real cycle could have loaded (CONTRACT section 2b's keys): a unique
19-digit ``tweet_id``, ``event_hour`` the hour of ``created_at``, a normalised location
(the synthetic generator's places, trimmed and cut as :func:`normalize_location` does, or
``'(unknown)'``), a lower-case ``lang``, counts >= 0, and for 60% of tweets 1 to 3
distinct lower-case hashtag keys. Rows are numbered by their distance from an anchor (the
horizon when the benchmark started): row 0 is in the hour just before it, and each
``rows_per_hour`` rows go one hour further back. Seeding the rows ``[first, last)`` of
that order adds older history to what is there, so a benchmark grows one warehouse from
one size to the next instead of writing every size afresh; the density of each hour stays
the same, so sizes differ in how far back history reaches, as a warehouse's does over
time. Values are drawn from a multiplicative hash of the row number: deterministic, with
no random() to make two runs differ.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2 import sql

from ingestion.places import PLACES
from ingestion.synthetic import HASHTAGS, LANGS
from lambda_common.contract import (
    UNKNOWN_LANG,
    UNKNOWN_LOCATION,
    normalize_hashtags,
    normalize_lang,
    normalize_location,
)
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)

# Real tweet ids grow with time; these do too (row 0, the newest, has the largest), and
# start with a 9 so that they never meet the synthetic generator's (10**18 + 61 bits).
_ID_BASE = 10**18 - 1
# How many hashtag keys the history uses beyond the generator's own: a long tail, as
# real hashtags have.
_TAIL_HASHTAGS = 280
# Each tweet's tags are the h-th, (h+7)-th and (h+14)-th of the list: distinct as long as
# the list is longer than 14.
_TAG_STEP = 7


@dataclass(frozen=True)
class SeedResult:
    """What one seeding step wrote and how long it took."""

    tweets: int
    hashtags: int
    insert_s: float
    analyze_s: float


def rows_per_hour(largest: int, days: int) -> int:
    """The density that spreads the ``largest`` history over ``days`` days (at least 1)."""
    return max(1, math.ceil(largest / (days * 24)))


def vocabularies() -> dict[str, list[str]]:
    """The keys the history draws from, each already in the normal form a load gives it:
    the generator's places (most popular first), langs (repeated by the generator's
    weights) and hashtags (its own and a long tail; distinct, as a tweet's must be)."""
    places = list(dict.fromkeys(normalize_location(p) for p in PLACES))
    langs = [normalize_lang(code) for code, weight in LANGS for _ in range(weight)]
    langs += [UNKNOWN_LANG] * 3
    tags = list(normalize_hashtags([*HASHTAGS, *(f"topic{n}" for n in range(_TAIL_HASHTAGS))]))
    return {"places": places, "langs": langs, "hashtags": tags}


# The row number j's hash (Knuth's multiplicative, 32 bits): its bit ranges pick the
# row's values, so neighbouring rows differ.
_HASH = "((g.j * 2654435761) %% 4294967296)"


def _skewed(array: str, shift: int, exponent: int) -> str:
    """An element of the bound ``array``, early ones far more often (16 bits of the hash
    from ``shift``, as a fraction, to the power ``exponent``): a popularity law without
    repeating elements, so the subscript, which walks a text array from its start, stays
    short."""
    fraction = f"((({_HASH} >> {shift}) %% 65536) / 65536::float8)"
    size = f"cardinality(%({array})s::text[])"
    return f"(%({array})s::text[])[1 + floor({size} * power({fraction}, {exponent}))::int]"


_ROWS = "FROM generate_series(CAST(%(last)s AS bigint) - 1, CAST(%(first)s AS bigint), -1) AS g (j)"
_TWEET_ID = "'9' || lpad((%(id_base)s - g.j)::text, 18, '0')"
_CREATED_AT = (
    "%(anchor)s - (1 + g.j / %(per_hour)s) * interval '1 hour'"
    " + ((g.j * 7919) %% 3600000) * interval '1 millisecond'"
)

# Descending j: ascending time and tweet_id, the order cycles append rows in. About 11%
# of locations are '(unknown)', as the generator's authors' are.
_INSERT_TWEETS = f"""
INSERT INTO raw_tweets (
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
)
SELECT
    {_TWEET_ID},
    {_CREATED_AT},
    date_trunc('hour', {_CREATED_AT}),
    CASE WHEN ({_HASH} >> 10) %% 100 < 11 THEN %(unknown)s ELSE {_skewed("places", 0, 3)} END,
    (10000 + (({_HASH} >> 4) %% 20000) * 7919)::text,
    floor(power(10::float8, (({_HASH} >> 8) %% 700) / 100::float8))::bigint,
    ({_HASH} >> 12) %% 50,
    ({_HASH} >> 20) %% 20,
    g.j %% %(partitions)s,
    g.j / %(partitions)s,
    (%(langs)s::text[])[1 + ({_HASH} >> 6) %% cardinality(%(langs)s::text[])]
{_ROWS}
"""

# Tweets with (hash >> 24) % 10 < 6 have 1 + (hash >> 16) % 3 tags, TAG_STEP apart in the
# list, so distinct. {columns}/{event_hour}: with the tweet's event_hour where
# raw_hashtags has that column.
_INSERT_HASHTAGS = f"""
INSERT INTO raw_hashtags ({{columns}})
SELECT
    {_TWEET_ID},
    (%(hashtags)s::text[])[
        1 + ((floor(cardinality(%(hashtags)s::text[])
                    * power(((({_HASH} >> 2) %% 65536) / 65536::float8), 2))::int
              + t.n * {_TAG_STEP}) %% cardinality(%(hashtags)s::text[]))
    ]{{event_hour}}
{_ROWS}
CROSS JOIN LATERAL generate_series(0, ({_HASH} >> 16) %% 3) AS t (n)
WHERE ({_HASH} >> 24) %% 10 < 6
"""

_HASHTAG_EVENT_HOUR = """
SELECT COUNT(*)
FROM information_schema.columns
WHERE table_schema = current_schema()
  AND table_name = 'raw_hashtags'
  AND column_name = 'event_hour'
"""


def hashtags_have_event_hour(wh: Warehouse) -> bool:
    """Whether this schema's ``raw_hashtags`` has the ``event_hour`` column (added by a
    later version of the schema): the seed fills it only where it exists."""
    return int(wh.query(_HASHTAG_EVENT_HOUR)[0][0]) > 0


def hashtags_statement(with_event_hour: bool) -> sql.Composable:
    """The INSERT of the hashtag rows, naming its columns."""
    names = ["tweet_id", "hashtag", *(["event_hour"] if with_event_hour else [])]
    return sql.SQL(_INSERT_HASHTAGS).format(
        columns=sql.SQL(", ").join(sql.Identifier(n) for n in names),
        event_hour=sql.SQL(f",\n    date_trunc('hour', {_CREATED_AT})" if with_event_hour else ""),
    )


def seed(
    wh: Warehouse,
    anchor: datetime,
    first: int,
    last: int,
    *,
    per_hour: int,
    partitions: int,
) -> SeedResult:
    """Write history rows ``[first, last)`` (see the module docstring) before ``anchor``
    (naive UTC, hour-aligned), in one transaction, then ANALYZE both tables."""
    params: dict[str, Any] = {
        "anchor": anchor,
        "first": first,
        "last": last,
        "per_hour": per_hour,
        "partitions": partitions,
        "id_base": _ID_BASE,
        "unknown": UNKNOWN_LOCATION,
        **vocabularies(),
    }
    started = time.perf_counter()
    with_event_hour = hashtags_have_event_hour(wh)
    with wh.transaction() as cur:
        cur.execute(_INSERT_TWEETS, params)
        tweets = int(cur.rowcount)
        cur.execute(hashtags_statement(with_event_hour), params)
        hashtags = int(cur.rowcount)
    inserted = time.perf_counter()
    # Fresh statistics, as autovacuum would have gathered over the history's many cycles:
    # the cycle's plans should not be judged on a table the planner thinks is empty.
    wh.execute("ANALYZE raw_tweets")
    wh.execute("ANALYZE raw_hashtags")
    analyzed = time.perf_counter()
    logger.info(
        "seeded %d tweets and %d hashtag rows in %.1fs (ANALYZE %.1fs)",
        tweets,
        hashtags,
        inserted - started,
        analyzed - inserted,
    )
    return SeedResult(tweets, hashtags, inserted - started, analyzed - inserted)
