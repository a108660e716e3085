"""Live tweets from the X API v2 filtered stream, mapped to the event contract.

``map_payload`` is pure (tested on recorded payloads under ``tests/fixtures/x``); the
``XStream`` class is the thin tweepy wiring around it. The stream is asked for the fields
the contract needs: the tweet's ``created_at``, ``author_id``, ``public_metrics``,
``lang`` and ``entities``, and, through the ``author_id`` expansion, the author's
``username``, ``location`` and ``public_metrics`` (followers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lambda_common.contract import Event, EventError, parse_created_at

logger = logging.getLogger(__name__)

TWEET_FIELDS = ["created_at", "author_id", "public_metrics", "lang", "entities"]
USER_FIELDS = ["username", "location", "public_metrics"]
EXPANSIONS = ["author_id"]


class XMappingError(ValueError):
    """A payload that cannot become a contract event; the message says why."""


def _users_by_id(includes: object) -> dict[str, Mapping[str, Any]]:
    if not isinstance(includes, Mapping):
        return {}
    users = includes.get("users") or []
    return {str(u["id"]): u for u in users if isinstance(u, Mapping) and "id" in u}


def map_tweet(tweet: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]]) -> Event:
    """One v2 tweet object (plus the expanded users) as a contract event."""
    try:
        tweet_id = str(tweet["id"])
        author_id = str(tweet["author_id"])
        created_at = parse_created_at(str(tweet["created_at"]))
    except KeyError as e:
        raise XMappingError(
            f"tweet lacks {e.args[0]!r} (ask for tweet.fields={','.join(TWEET_FIELDS)})"
        ) from None
    except EventError as e:
        raise XMappingError(e.reason) from None
    author = users.get(author_id) or tweet.get("author")  # some exports embed the author
    if not isinstance(author, Mapping):
        raise XMappingError(
            f"tweet {tweet_id}: author {author_id} not in includes.users (expansion author_id)"
        )
    metrics = tweet.get("public_metrics") or {}
    author_metrics = author.get("public_metrics") or {}
    if "followers_count" not in author_metrics:
        raise XMappingError(f"tweet {tweet_id}: author has no public_metrics.followers_count")
    entities = tweet.get("entities") or {}
    hashtags = tuple(
        str(h["tag"])
        for h in entities.get("hashtags") or []
        if isinstance(h, Mapping) and "tag" in h
    )
    try:
        return Event(
            tweet_id=tweet_id,
            created_at=created_at,
            user_id=author_id,
            user_name=author.get("username"),
            followers_count=author_metrics["followers_count"],
            favorite_count=metrics.get("like_count", 0),
            retweet_count=metrics.get("retweet_count", 0),
            location=author.get("location"),
            lang=tweet.get("lang"),
            text=tweet.get("text"),
            hashtags=hashtags,
            source="x",
        )
    except EventError as e:
        raise XMappingError(f"tweet {tweet_id}: {e.reason}") from None


def map_payload(payload: Mapping[str, Any]) -> list[Event]:
    """A stream message or API response (``data`` + ``includes``) as contract events.

    ``data`` may be one tweet (stream) or a list (search / lookup responses). A bare tweet
    object with an embedded ``author`` is accepted too (replay of exports).
    """
    if "data" not in payload:
        if "id" in payload and "author_id" in payload:
            return [map_tweet(payload, {})]
        errors = payload.get("errors")
        raise XMappingError(f"no tweet in payload{f': {errors!r:.120}' if errors else ''}")
    users = _users_by_id(payload.get("includes"))
    data = payload["data"]
    tweets: Iterable[Any] = data if isinstance(data, list) else [data]
    return [map_tweet(t, users) for t in tweets if isinstance(t, Mapping)]


def looks_like_x_payload(obj: Mapping[str, Any]) -> bool:
    """True for X API objects (as opposed to contract events) in a replay file."""
    return "tweet_id" not in obj and ("data" in obj or ("id" in obj and "author_id" in obj))


class XStream:
    """The filtered stream through tweepy's ``StreamingClient``, events handed to ``on_event``.

    tweepy reconnects by itself with back-off (exponential for HTTP errors, linear for
    network errors, as the X API asks); ``max_retries`` bounds it.
    """

    def __init__(
        self,
        bearer_token: str,
        rules: list[str],
        on_event: Callable[[Event], None],
        on_bad: Callable[[str], None],
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
        import json

        try:
            payload = json.loads(raw)
            events = map_payload(payload)
        except (ValueError, XMappingError) as e:
            self.on_bad(str(e)[:200])
            return
        for event in events:
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
