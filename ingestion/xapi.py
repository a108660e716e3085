"""Live tweets from the X API v2 filtered stream, mapped to the event contract.

``parse_payload`` is pure (tested on recorded payloads under ``tests/fixtures/x`` and on
random mutations of them): any decoded JSON value becomes contract events or an
:class:`XReject` saying why not, and it never raises, so no input can stop a producer.
The ``XStream`` class is the thin tweepy wiring around it. The stream is asked for the
fields the contract needs: the tweet's ``created_at``, ``author_id``, ``public_metrics``,
``lang`` and ``entities``, and, through the ``author_id`` expansion, the author's
``username``, ``location`` and ``public_metrics`` (followers).

The X shape, checked in one place (``_tweets``, ``_users``, ``_event``): ``null`` is the
same as absent (as in the event contract); ``id``, ``author_id`` and ``created_at`` are
required strings; ``includes``, ``public_metrics`` and ``entities`` are objects, and
``includes.users`` and ``entities.hashtags`` arrays of objects, when present; every user
in ``includes.users`` has a string ``id`` and every hashtag a string ``tag``; the author
needs ``public_metrics.followers_count``; ``like_count`` and ``retweet_count`` default
to 0. Leaf values (counts, texts, the ids' digits) are checked by :class:`Event`, with
the contract's reasons. One bad tweet rejects its whole payload (a replay line is
replayed or skipped as a whole).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ingestion.jsonline import Undecodable, decode_object
from lambda_common.contract import Event, EventError, parse_created_at

logger = logging.getLogger(__name__)

TWEET_FIELDS = ["created_at", "author_id", "public_metrics", "lang", "entities"]
USER_FIELDS = ["username", "location", "public_metrics"]
EXPANSIONS = ["author_id"]

# A decoded JSON object whose values are not checked yet: the checks below narrow the
# containers, and Event checks the leaves (so Any, not object, flows into Event).
_JSONObject = dict[str, Any]
_T = TypeVar("_T", _JSONObject, list[Any], str)  # the JSON types the shape names

_JSON_TYPES: dict[type, str] = {dict: "an object", list: "an array", str: "a string"}

# Input echoed in a reason is cut to this many characters: an id, an X error's title.
_SHOWN_CHARS = 40
_SHOWN_ERROR_CHARS = 120


@dataclass(frozen=True, slots=True)
class XReject:
    """Why an X object cannot become events: ``reason`` is one printable line.

    ``tweet_id`` is the offending tweet's ``id`` when it has a string one, else None.
    """

    reason: str
    tweet_id: str | None = None

    def __str__(self) -> str:
        """``tweet 123: reason`` or ``unknown id: reason``, safe to log."""
        who = "unknown id" if self.tweet_id is None else f"tweet {_shown(self.tweet_id)}"
        return f"{who}: {self.reason}"


class _Malformed(Exception):
    """A broken X shape: raised by the checks below, caught once in parse_payload."""


def _shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    """``text`` as it may appear in a log line: as is when short printable ASCII, else
    quoted, escaped and cut, so input can neither forge log lines nor flood them."""
    if len(text) <= limit and text.isascii() and text.isprintable():
        return text
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: bool is a subclass of int
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _optional(value: object, kind: type[_T], what: str) -> _T | None:
    """``value`` when it is of JSON type ``kind``, None when null or absent."""
    if value is None or isinstance(value, kind):
        return value
    raise _Malformed(f"{what} must be {_JSON_TYPES[kind]}, not {_json_type(value)}")


def _required(value: object, kind: type[_T], what: str) -> _T:
    """``value`` when it is of JSON type ``kind``; null or absent is malformed too."""
    checked = _optional(value, kind, what)
    if checked is None:
        raise _Malformed(f"{what} is missing or null")
    return checked


def _tweet_field(tweet: _JSONObject, name: str) -> str:
    """A required string field of a tweet (``id``, ``author_id``, ``created_at``)."""
    value = _optional(tweet.get(name), str, name)
    if value is None:
        raise _Malformed(f"tweet lacks {name!r} (ask for tweet.fields={','.join(TWEET_FIELDS)})")
    return value


def _no_tweet(payload: _JSONObject) -> str:
    """The reason for a payload without a tweet, with the first X error's title if any."""
    errors = payload.get("errors")
    first = errors[0] if isinstance(errors, list) and errors else None
    if isinstance(first, dict):
        words = [w for w in (first.get("title"), first.get("detail")) if isinstance(w, str)]
        if words:
            return f"no tweet in payload: {_shown(': '.join(words), _SHOWN_ERROR_CHARS)}"
    return "no tweet in payload"


def _tweets(payload: _JSONObject) -> tuple[list[tuple[str, object]], bool]:
    """The payload's tweets as (name in reasons, value), and whether it is a bare tweet.

    ``data`` is one tweet (stream) or an array (search and lookup responses); a bare tweet
    object with an embedded ``author`` is accepted too (replay of exports).
    """
    data = payload.get("data")
    if data is None:
        if "id" in payload and "author_id" in payload:
            return [("tweet", payload)], True
        raise _Malformed(_no_tweet(payload))
    if isinstance(data, dict):
        return [("data", data)], False
    if not isinstance(data, list):
        raise _Malformed(f"data must be an object or an array, not {_json_type(data)}")
    if not data:
        raise _Malformed(_no_tweet(payload))
    return [(f"data[{i}]", tweet) for i, tweet in enumerate(data)], False


def _users(payload: _JSONObject) -> dict[str, _JSONObject]:
    """``includes.users`` by ``id`` (the expanded authors)."""
    includes = _optional(payload.get("includes"), dict, "includes") or {}
    users: dict[str, _JSONObject] = {}
    for i, value in enumerate(_optional(includes.get("users"), list, "includes.users") or []):
        user = _required(value, dict, f"includes.users[{i}]")
        users[_required(user.get("id"), str, f"includes.users[{i}].id")] = user
    return users


def _hashtags(tweet: _JSONObject) -> tuple[str, ...]:
    """The tags of ``entities.hashtags``."""
    entities = _optional(tweet.get("entities"), dict, "entities") or {}
    hashtags = _optional(entities.get("hashtags"), list, "entities.hashtags") or []
    tags = []
    for i, value in enumerate(hashtags):
        hashtag = _required(value, dict, f"entities.hashtags[{i}]")
        tags.append(_required(hashtag.get("tag"), str, f"entities.hashtags[{i}].tag"))
    return tuple(tags)


def _event(tweet: _JSONObject, users: Mapping[str, _JSONObject]) -> Event:
    """One v2 tweet object (plus the expanded users) as a contract event."""
    tweet_id = _tweet_field(tweet, "id")
    author_id = _tweet_field(tweet, "author_id")
    created_at = parse_created_at(_tweet_field(tweet, "created_at"))
    # Some exports embed the author in the tweet instead of expanding it.
    author = users.get(author_id) or _optional(tweet.get("author"), dict, "author")
    if author is None:
        raise _Malformed(f"author {_shown(author_id)} not in includes.users (expansion author_id)")
    metrics = _optional(tweet.get("public_metrics"), dict, "public_metrics") or {}
    author_metrics = _optional(author.get("public_metrics"), dict, "author.public_metrics") or {}
    followers = author_metrics.get("followers_count")
    if followers is None:
        raise _Malformed("author has no public_metrics.followers_count")
    likes, retweets = metrics.get("like_count"), metrics.get("retweet_count")
    return Event(
        tweet_id=tweet_id,
        created_at=created_at,
        user_id=author_id,
        user_name=author.get("username"),
        followers_count=followers,
        favorite_count=0 if likes is None else likes,
        retweet_count=0 if retweets is None else retweets,
        location=author.get("location"),
        lang=tweet.get("lang"),
        text=tweet.get("text"),
        hashtags=_hashtags(tweet),
        source="x",
    )


def parse_payload(payload: object) -> list[Event] | XReject:
    """A stream message or API response (``data`` + ``includes``) as contract events.

    Returns the events (at least one), or an :class:`XReject` naming the first problem,
    for any decoded JSON value: it never raises. See the module docstring for the shape.
    """
    if not isinstance(payload, dict):
        return XReject(f"payload must be an object, not {_json_type(payload)}")
    try:
        tweets, bare = _tweets(payload)
    except _Malformed as e:
        return XReject(str(e))
    # A stream message holds one tweet: name it even when the payload around it is bad.
    only_id = _id_of(tweets[0][1]) if len(tweets) == 1 else None
    try:
        users = {} if bare else _users(payload)
    except _Malformed as e:
        return XReject(str(e), only_id)
    events = []
    for name, value in tweets:
        try:
            events.append(_event(_required(value, dict, name), users))
        except _Malformed as e:
            return XReject(str(e), _id_of(value))
        except EventError as e:
            return XReject(e.reason, _id_of(value))
    return events


def _id_of(tweet: object) -> str | None:
    """A tweet's ``id`` for reasons, when it is a string."""
    if isinstance(tweet, dict) and isinstance(tweet.get("id"), str):
        return str(tweet["id"])
    return None


def parse_message(raw: bytes | str) -> list[Event] | XReject:
    """One stream message (a line of JSON) as events, or why not; never raises."""
    payload = decode_object(raw)
    if isinstance(payload, Undecodable):
        return XReject(payload.reason)
    return parse_payload(payload)


def looks_like_x_payload(obj: Mapping[str, Any]) -> bool:
    """True for X API objects (as opposed to contract events) in a replay file."""
    return "tweet_id" not in obj and ("data" in obj or ("id" in obj and "author_id" in obj))


class XStream:
    """The filtered stream through tweepy's ``StreamingClient``, events handed to ``on_event``.

    A message that is not a valid X payload goes to ``on_bad`` and the stream carries on:
    an exception out of ``on_data`` would end tweepy's read loop (its ``on_exception``).
    tweepy reconnects by itself with back-off (exponential for HTTP errors, linear for
    network errors, as the X API asks); ``max_retries`` bounds it.
    """

    def __init__(
        self,
        bearer_token: str,
        rules: list[str],
        on_event: Callable[[Event], None],
        on_bad: Callable[[XReject], None],
        *,
        max_retries: int = 20,
    ) -> None:
        import tweepy  # imported here: only the x source needs it

        owner = self

        class _Client(tweepy.StreamingClient):  # type: ignore[misc]
            def on_data(self, raw_data: bytes | str) -> None:
                owner._handle(raw_data)

            def on_connection_error(self) -> None:
                logger.warning("X stream connection error; tweepy reconnects with back-off")

            def on_request_error(self, status_code: int) -> None:
                logger.warning("X stream HTTP %s; tweepy retries with back-off", status_code)

        self._tweepy = tweepy
        self._client = _Client(bearer_token, wait_on_rate_limit=True, max_retries=max_retries)
        self.rules = rules
        self.on_event = on_event
        self.on_bad = on_bad
        self._stopped = threading.Event()

    def _handle(self, raw: bytes | str) -> None:
        result = parse_message(raw)
        if isinstance(result, XReject):
            self.on_bad(result)
            return
        for event in result:
            self.on_event(event)

    def sync_rules(self) -> None:
        """Make the stream's rules exactly ``self.rules`` (remove others, add missing)."""
        current = self._client.get_rules().data or []
        wanted = set(self.rules)
        stale = [r.id for r in current if r.value not in wanted]
        if stale:
            self._client.delete_rules(stale)
        have = {r.value for r in current}
        missing = [self._tweepy.StreamRule(value=v) for v in self.rules if v not in have]
        if missing:
            self._client.add_rules(missing)
        logger.info("X stream rules: %s", ", ".join(self.rules))

    def run(self) -> None:
        """Block, streaming, until ``stop()`` or tweepy gives up after its retries."""
        self.sync_rules()
        self._client.filter(
            tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS, expansions=EXPANSIONS
        )

    def stop(self) -> None:
        """Disconnect (from a signal handler or another thread)."""
        self._stopped.set()
        self._client.disconnect()
