"""Synthetic tweets: realistic, skewed, deterministic for a seed. Pure logic, no I/O.

- Authors come from a fixed pool; how often each tweets follows a power law, and so does
  their location (a Zipf-like law over ``PLACES``, plus absent and blank ones) and their
  follower count (log-normal: most have a few hundred, a few have millions).
- With a time window (``start``/``end``) the events' ``created_at`` are spread evenly
  over it (backfill); without one they carry the wall-clock time (a live stream).
- A fraction of messages re-send an earlier tweet (same ``tweet_id``: a duplicate, as a
  re-capture with higher counts), and a fraction of new tweets are late (``created_at``
  minutes to hours in the past). Both fractions are met exactly, within one message.

The same seed and options give the same events, byte for byte, except for the
wall-clock ``created_at`` of a live stream.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from ingestion.places import PLACES
from lambda_common.contract import Event
from lambda_common.contract.wire import WireMessage, event_message

AUTHORS = 20_000
LANGS = (
    ("en", 55),
    ("es", 12),
    ("pt", 8),
    ("ja", 7),
    ("fr", 4),
    ("de", 3),
    ("ar", 3),
    ("tr", 2),
    ("hi", 2),
    ("und", 4),
)
WORDS = (
    "data",
    "stream",
    "kafka",
    "spark",
    "coffee",
    "monday",
    "game",
    "music",
    "news",
    "today",
    "love",
    "weekend",
    "rain",
    "sun",
    "city",
    "match",
    "goal",
    "vote",
    "new",
    "release",
    "launch",
    "party",
    "traffic",
    "train",
    "late",
    "again",
    "finally",
    "why",
    "lol",
    "wow",
    "great",
    "terrible",
    "best",
    "worst",
    "morning",
    "night",
    "pizza",
)
HASHTAGS = (
    "DataEngineering",
    "BigData",
    "Kafka",
    "Spark",
    "AWS",
    "Python",
    "AI",
    "WorldCup",
    "Elections",
    "Breaking",
    "Music",
    "NowPlaying",
    "TBT",
    "Monday",
    "Weather",
    "Crypto",
    "Gaming",
    "Football",
    "NBA",
    "Netflix",
)
MAX_DUPLICATE_FRACTION = 0.5
DUPLICATE_HISTORY = 5_000


@dataclass(frozen=True)
class SyntheticOptions:
    """What to generate. ``count`` 0 means forever (live stream only)."""

    seed: int = 42
    count: int = 1000
    start: datetime | None = None
    end: datetime | None = None
    duplicate_fraction: float = 0.0
    late_fraction: float = 0.0
    min_lateness: timedelta = timedelta(minutes=15)
    max_lateness: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count must be >= 0 (0 = forever)")
        if (self.start is None) != (self.end is None):
            raise ValueError("a time window needs both start and end")
        if self.start is not None and self.end is not None:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end must carry a time zone")
            if self.end <= self.start:
                raise ValueError("end must be after start")
            if self.count == 0:
                raise ValueError("a backfill window needs a count > 0")
        if not 0 <= self.duplicate_fraction <= MAX_DUPLICATE_FRACTION:
            raise ValueError(f"duplicate fraction must be within 0..{MAX_DUPLICATE_FRACTION}")
        if not 0 <= self.late_fraction <= 1:
            raise ValueError("late fraction must be within 0..1")
        if not timedelta(0) < self.min_lateness <= self.max_lateness:
            raise ValueError("lateness must satisfy 0 < min <= max")


@dataclass(frozen=True, slots=True)
class Author:
    """A synthetic account: fixed for the whole run."""

    user_id: str
    user_name: str
    location: str | None
    followers_count: int


def _power_law_cum_weights(n: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


class _Draw:
    """Fast weighted draws from a cumulative weight table (bisect, no allocation)."""

    def __init__(self, rng: random.Random, cum_weights: list[float]) -> None:
        self._random = rng.random
        self._cum = cum_weights
        self._total = cum_weights[-1]

    def __call__(self) -> int:
        return bisect.bisect_right(self._cum, self._random() * self._total)


def _authors(rng: random.Random) -> list[Author]:
    place = _Draw(rng, _power_law_cum_weights(len(PLACES), 1.07))
    authors = []
    for index in range(AUTHORS):
        roll = rng.random()
        location: str | None
        if roll < 0.08:
            location = None  # no location in the profile
        elif roll < 0.11:
            location = rng.choice(("", " ", "\t", "  \n"))  # blank: groups as (unknown)
        else:
            location = PLACES[place()]
        followers = min(int(rng.lognormvariate(5.5, 2.2)), 150_000_000)
        user_id = str(10_000 + index * 7_919 + rng.randrange(7_919))
        authors.append(Author(user_id, f"user_{user_id}", location, followers))
    return authors


class _Tweet(NamedTuple):
    """One synthetic tweet's own values: an :class:`Event` of them, or its message."""

    tweet_id: str
    created_at: datetime
    author: Author
    favorite_count: int
    retweet_count: int
    lang: str
    text: str
    hashtags: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        """The Event's fields (``source`` is ``synthetic``)."""
        who = self.author
        return {
            "tweet_id": self.tweet_id,
            "created_at": self.created_at,
            "user_id": who.user_id,
            "user_name": who.user_name,
            "followers_count": who.followers_count,
            "favorite_count": self.favorite_count,
            "retweet_count": self.retweet_count,
            "location": who.location,
            "lang": self.lang,
            "text": self.text,
            "hashtags": self.hashtags,
            "source": "synthetic",
        }


class SyntheticTweets:
    """An iterable of contract :class:`Event` objects; see the module docstring.

    :meth:`messages` gives the same events as Kafka messages, built without the Event.
    """

    def __init__(
        self, options: SyntheticOptions, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.options = options
        self._clock = clock or (lambda: datetime.now(UTC))
        self.duplicates = 0
        self.late = 0

    def __iter__(self) -> Iterator[Event]:
        for tweet in self._tweets():
            yield Event(**tweet.fields())

    def messages(self) -> Iterator[WireMessage]:
        """The events' messages, the bytes ``(e.tweet_id.encode(), e.to_json_bytes())`` of
        each event ``e`` of ``iter(self)``, built as Structs and checked on their bytes by
        the contract (:func:`lambda_common.contract.wire.event_message`); an event it declines is
        made an Event, as in ``iter(self)``, and raises that Event's error, if any."""
        for tweet in self._tweets():
            fields = tweet.fields()
            message = event_message(**fields)
            if message is None:
                event = Event(**fields)
                message = WireMessage(event.tweet_id.encode(), event.to_json_bytes())
            yield message

    def _tweets(self) -> Iterator[_Tweet]:
        o = self.options
        rng = random.Random(o.seed)
        authors = _authors(rng)
        author = _Draw(rng, _power_law_cum_weights(AUTHORS, 0.9))
        lang = _Draw(rng, list(itertools.accumulate(w for _, w in LANGS)))
        history: deque[_Tweet] = deque(maxlen=DUPLICATE_HISTORY)
        lateness_span = (o.max_lateness - o.min_lateness).total_seconds()
        window = (o.end - o.start) if o.start is not None and o.end is not None else None
        self.duplicates = self.late = 0
        new = 0  # tweets that are not duplicates so far

        for i in itertools.count() if o.count == 0 else range(o.count):
            # Exact fractions: after n messages, floor(n * fraction) of them are duplicates
            # (the epsilon absorbs float error such as 0.1 * 4000 = 399.99...).
            if int((i + 1) * o.duplicate_fraction + 1e-9) > self.duplicates and history:
                self.duplicates += 1
                yield self._recapture(rng, rng.choice(history))
                continue

            if window is not None and o.start is not None:
                created = o.start + window * (i / o.count)
            else:
                created = self._clock()
            new += 1
            if int(new * o.late_fraction + 1e-9) > self.late:
                self.late += 1
                created -= o.min_lateness + timedelta(seconds=rng.random() * lateness_span)

            who = authors[author()]
            tags = tuple(rng.sample(HASHTAGS, rng.choice((0, 0, 0, 1, 1, 2, 3))))
            text = " ".join(rng.choices(WORDS, k=6)) + "".join(f" #{t}" for t in tags)
            tweet = _Tweet(
                tweet_id=str(1_000_000_000_000_000_000 + rng.getrandbits(61)),
                created_at=created,
                author=who,
                favorite_count=int(rng.paretovariate(1.3)) - 1,
                retweet_count=int(rng.paretovariate(1.6)) - 1,
                lang=LANGS[lang()][0],
                text=text,
                hashtags=tags,
            )
            history.append(tweet)
            yield tweet

    @staticmethod
    def _recapture(rng: random.Random, first: _Tweet) -> _Tweet:
        """The same tweet seen again later: same id, author and time, higher counts."""
        return first._replace(
            favorite_count=first.favorite_count + rng.randrange(1, 50),
            retweet_count=first.retweet_count + rng.randrange(0, 10),
        )
