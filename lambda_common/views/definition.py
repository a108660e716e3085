"""The views, each defined once: one ``.sql`` file (CONTRACT sections 2 and 2b).

A view file holds the view's aggregation as one ``SELECT`` over a named relation, opened
by comment lines that give the few facts the code needs::

    -- view: hashtags
    -- key: hashtag varchar(400)
    -- reads: tweet_hashtags
    SELECT event_hour, hashtag, COUNT(*) AS tweet_count, ... FROM tweet_hashtags
    GROUP BY event_hour, hashtag

``-- key:`` lines name the grouping columns besides ``event_hour`` (which every view
groups by first: the horizon rule splits on it) with their warehouse type; ``-- reads:``
names the relation (:data:`RELATIONS`); an optional ``-- tables:`` line overrides the
default relation names ``batch_<view>``, ``speed_<view>`` and ``serving_<view>`` (the
``locations`` view keeps ``batch_view``, ``speed_view``, ``serving_view``). Every view
has the contract's measures (:data:`MEASURES`).

Everything else derives from the definition: the warehouse tables and the serving view
(:mod:`lambda_common.views.sql`), the batch layer's rebuild (the very ``SELECT`` over the
relation read from ``raw_tweets`` and ``raw_hashtags``), the speed layer's micro-batch
aggregation (the same ``SELECT``, run by the warehouse over the micro-batch's staged
events), the reader's
grants, ``make status`` and the tests. The views shipped live in this package's
``views`` folder; ``VIEWS_DIR`` adds a folder of one's own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from lambda_common.errors import ConfigError

__all__ = [
    "MEASURES",
    "RELATIONS",
    "Key",
    "View",
    "load_views",
    "views_fingerprint",
]

MEASURES = ("tweet_count", "followers_sum", "favorite_sum", "retweet_sum")
"""The measures of every view, in column order (CONTRACT section 2)."""

HOUR = "event_hour"
"""The first key of every view: the horizon rule splits on it."""

_TWEET_COLUMNS = (
    "tweet_id",
    "event_hour",
    "location",
    "lang",
    "user_id",
    "followers_count",
    "favorite_count",
    "retweet_count",
)

RELATIONS: dict[str, tuple[str, ...]] = {
    "tweets": _TWEET_COLUMNS,
    "tweet_hashtags": (*_TWEET_COLUMNS, "hashtag"),
}
"""What a view may read, and its columns: ``tweets`` is one row per valid,
de-duplicated event (keys normalised by :mod:`lambda_common.contract`);
``tweet_hashtags`` one row per event and distinct hashtag key. Both layers produce
them with these columns: the batch layer from ``raw_tweets`` (and ``raw_hashtags``),
the speed layer from each micro-batch's events."""

LOCATIONS = "locations"
"""The view of CONTRACT section 2, which keeps its table names."""

_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_TYPE = re.compile(r"(varchar\([1-9][0-9]{0,4}\)|bigint|integer|date|timestamp|boolean)\Z")
_HEADER = re.compile(r"--\s*(?P<fact>view|key|reads|tables)\s*:\s*(?P<value>.*?)\s*\Z")


@dataclass(frozen=True)
class Key:
    """A grouping column of a view besides ``event_hour``, with its warehouse type."""

    name: str
    sql_type: str


@dataclass(frozen=True)
class View:
    """One view's definition, read from its file."""

    name: str
    keys: tuple[Key, ...]
    reads: str
    select: str
    """The aggregation: one SELECT, comment lines removed (the text both layers run)."""
    batch_table: str
    speed_table: str
    serving_view: str
    source: str
    """Where the definition was read from (for messages)."""

    @property
    def key_columns(self) -> tuple[str, ...]:
        """``event_hour`` and the view's own keys: a row's identity."""
        return (HOUR, *(k.name for k in self.keys))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column of the view's tables, in order: keys, then measures."""
        return (*self.key_columns, *MEASURES)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what the view computes (its keys, relation and SELECT)."""
        facts = f"{self.name}\n{self.keys}\n{self.reads}\n{self.select}"
        return hashlib.sha256(facts.encode("utf-8")).hexdigest()


def parse_view(text: str, source: str) -> View:
    """The view a file's text defines; ``ConfigError`` naming the file and the fault."""

    def fail(why: str) -> ConfigError:
        return ConfigError(f"view definition {source}: {why}")

    facts: dict[str, list[str]] = {"view": [], "key": [], "reads": [], "tables": []}
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        header = _HEADER.match(stripped)
        if header:
            facts[header["fact"]].append(header["value"])
        elif stripped and not stripped.startswith("--"):
            body.append(line.rstrip())
    if len(facts["view"]) != 1 or not _NAME.match(facts["view"][0]):
        raise fail("needs one '-- view: <name>' line, the name in [a-z0-9_] (up to 40)")
    name = facts["view"][0]
    if len(facts["reads"]) != 1 or facts["reads"][0] not in RELATIONS:
        raise fail(f"needs one '-- reads: <relation>' line, one of {', '.join(RELATIONS)}")
    reads = facts["reads"][0]
    keys = tuple(_parse_key(value, fail) for value in facts["key"])
    if not keys:
        raise fail("needs at least one '-- key: <column> <type>' line")
    names = [k.name for k in keys]
    if len(set(names)) != len(names) or HOUR in names or set(names) & set(MEASURES):
        raise fail("key columns must be distinct, and not event_hour or a measure")
    select = "\n".join(body).strip().rstrip(";").strip()
    if not select.upper().startswith("SELECT") or ";" in select:
        raise fail("the body must be one SELECT statement")
    tables = (f"batch_{name}", f"speed_{name}", f"serving_{name}")
    if facts["tables"]:
        given = facts["tables"][0].split()
        if len(facts["tables"]) != 1 or len(given) != 3 or not all(map(_NAME.match, given)):
            raise fail("'-- tables:' names the batch table, speed table and serving view")
        tables = (given[0], given[1], given[2])
    return View(name, keys, reads, select, *tables, source=source)


def _parse_key(value: str, fail: object) -> Key:
    parts = value.split(None, 1)
    if len(parts) != 2 or not _NAME.match(parts[0]) or not _TYPE.match(parts[1].lower()):
        raise fail(  # type: ignore[operator]
            f"'-- key: {value}' must be a column name and one of varchar(n), bigint, "
            "integer, date, timestamp, boolean"
        )
    return Key(parts[0], parts[1].lower())


@cache
def load_views(extra: Path | None = None) -> tuple[View, ...]:
    """Every view: those shipped in ``lambda_common/views``, then those in ``extra``
    (``VIEWS_DIR``). ``locations`` comes first, the rest by name. Raises ``ConfigError``
    naming the file for a definition that breaks a rule, or a name used twice."""
    found: list[View] = []
    shipped = resources.files("lambda_common") / "views"
    for item in sorted(shipped.iterdir(), key=lambda t: t.name):
        if item.name.endswith(".sql"):
            found.append(
                parse_view(item.read_text(encoding="utf-8"), f"lambda_common/views/{item.name}")
            )
    if extra is not None:
        if not extra.is_dir():
            raise ConfigError(f"VIEWS_DIR={extra} is not a folder")
        for path in sorted(extra.glob("*.sql")):
            found.append(parse_view(path.read_text(encoding="utf-8"), str(path)))
    seen: dict[str, str] = {}
    for view in found:
        for relation in (view.name, view.batch_table, view.speed_table, view.serving_view):
            if relation in seen:
                raise ConfigError(
                    f"view definition {view.source}: {relation!r} is named by {seen[relation]}"
                )
            seen[relation] = view.source
    found.sort(key=lambda v: (v.name != LOCATIONS, v.name))
    return tuple(found)


def views_fingerprint(views: tuple[View, ...]) -> str:
    """SHA-256 over every view's definition: changes when a view is added, dropped or
    changed (the speed layer starts a fresh checkpoint then, see ``speed_layer.job``)."""
    text = "\n".join(v.fingerprint for v in views)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
