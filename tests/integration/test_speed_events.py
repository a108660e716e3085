"""The speed sink's two ways on the real local warehouse: micro-batches given as their
valid events (staged, de-duplicated and aggregated by every view's SELECT in the
warehouse: the job's way) leave exactly the rows that the same micro-batches given as view
rows (de-duplicated and aggregated outside the warehouse: the way before) leave, and both
equal the contract's aggregation computed here, for random micro-batches with copies
(within a micro-batch and across them, with other counts), late events (older than the
de-duplication's watermark), hostile text, events before a horizon that moves mid-stream,
and a replayed micro-batch."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from lambda_common.warehouse import Warehouse
from speed_layer import view as view_module
from speed_layer.events import StagedEvents, from_rows
from speed_layer.view import SpeedView, ViewRow

from .helpers import Lane, ViewKey, ViewSums, all_views_rows

BASE = datetime(2027, 3, 1, 0, 0)
# Text the literals must carry as it is: quotes, backslashes, percent signs, non-ASCII.
TEXTS = [
    "plain",
    "it's",
    "back\\slash",
    "100%",
    "%(since)s",
    "''",
    "naïve",
    "東京",
    "a\\'b",
    " ",
    'say "hi", then\nleave',
    "",
]

Event = tuple[str, datetime, str, str, str, int, int, int, list[str]]


def _events(rng: random.Random, first_id: int, n: int, newest: datetime) -> list[Event]:
    out = []
    for i in range(n):
        # Mostly recent hours, some late ones (hours back, before a horizon too).
        hour = newest - timedelta(hours=rng.choice([0, 0, 0, 1, 2, 5]))
        tags = list(dict.fromkeys(rng.choice(TEXTS) for _ in range(rng.randrange(4))))
        out.append(
            (
                str(first_id + i),
                hour,
                rng.choice(TEXTS[:6]),
                rng.choice(["en", "fr", "(unknown)", "x'y"]),
                rng.choice(TEXTS),
                rng.randrange(2**63),
                rng.randrange(1000),
                rng.choice([0, 2**63 - 1]),
                tags,
            )
        )
    return out


def _with_copies(rng: random.Random, events: list[Event], earlier: list[Event]) -> list[Event]:
    """``events`` with copies mixed in (a tenth): of an event of this micro-batch (after
    it, or before it: then the copy is the first and wins) or of an earlier one, with
    other counts (a re-capture), so that the wrong copy counted would show."""
    out = list(events)
    for _ in range(len(events) // 10 + 1):
        pool = [*events, *earlier]
        if not pool:
            break
        e = rng.choice(pool)
        copy = (*e[:5], rng.randrange(1000), rng.randrange(1000), rng.randrange(1000), e[8])
        out.insert(rng.randrange(len(out) + 1), copy)
    return out


def _first_copies(batches: list[list[Event]], retention: timedelta) -> list[list[Event]]:
    """Each micro-batch's events as the de-duplication keeps them, computed here: late
    ones (at or before the newest hour of the earlier micro-batches minus the retention)
    dropped, then the first copy of each tweet id ever seen kept."""
    seen: set[str] = set()
    newest: datetime | None = None
    out = []
    for events in batches:
        watermark = newest - retention if newest is not None else None
        kept = []
        for e in events:
            if (watermark is None or e[1] > watermark) and e[0] not in seen:
                seen.add(e[0])
                kept.append(e)
        out.append(kept)
        if events:
            newest = max([e[1] for e in events] + ([newest] if newest else []))
    return out


def _view_rows(events: list[Event], horizon: datetime | None) -> dict[str, list[ViewRow]]:
    """The shipped views' aggregation of one micro-batch, computed here."""
    sums: dict[str, dict[tuple[datetime, str], list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0, 0])
    )
    for e in events:
        keys = {"locations": [e[2]], "languages": [e[3]], "hashtags": e[8]}
        for view, values in keys.items():
            for value in values:
                s = sums[view][(e[1], value)]
                for i, m in enumerate((1, e[5], e[6], e[7])):
                    s[i] += m
    return {
        view: [(*k, *v) for k, v in groups.items() if horizon is None or k[0] >= horizon]
        for view, groups in sums.items()
    }


def _expected(batches: list[list[Event]], horizon: datetime) -> dict[ViewKey, ViewSums]:
    out: dict[ViewKey, ViewSums] = {}
    for view, rows in _view_rows([e for b in batches for e in b], horizon).items():
        for row in rows:
            out[(view, row[0], row[1])] = (row[2], row[3], row[4], row[5])
    return out


def _set_horizon(lane: Lane, horizon: datetime) -> None:
    with Warehouse(lane.settings) as wh:
        wh.execute("DELETE FROM batch_horizon")
        wh.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (horizon,))


@pytest.mark.parametrize(
    ("seed", "way"), [(1, "copy"), (2, "copy"), (3, "literals"), (4, "quoted")]
)
def test_events_in_the_warehouse_equal_view_rows_and_the_full_computation(
    lane: Lane, seed: int, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``way`` the events are staged: COPY (PostgreSQL's), a multi-row INSERT of
    Arrow-built literals (a server with standard strings) or of psycopg2's quoting."""
    rng = random.Random(seed)
    with Warehouse(lane.settings) as wh:
        wh.ensure_schema()
        with wh.connection().cursor() as cur:
            assert view_module._standard_strings(cur) is True
    monkeypatch.setattr(view_module, "_staging_way", lambda cur, dialect: way)
    batches: list[list[Event]] = []
    newest = BASE
    for b in range(8):
        newest += timedelta(hours=rng.choice([0, 0, 1, 2]))
        fresh = _events(rng, 10_000 * (b + 1), rng.choice([0, 1, 50, 700]), newest)
        batches.append(_with_copies(rng, fresh, [e for batch in batches for e in batch]))
    firsts = _first_copies(batches, timedelta(seconds=lane.settings.speed_retention))
    assert sum(map(len, firsts)) < sum(map(len, batches))  # copies and late ones met
    horizon_at, horizon = 4, BASE + timedelta(hours=1)

    got: dict[str, dict[ViewKey, ViewSums]] = {}
    for given_as in ("rows", "events"):
        _set_horizon(lane, BASE - timedelta(days=1))
        with Warehouse(lane.settings) as wh:
            view = SpeedView(lane.settings, wh)
            for batch_id, (events, first) in enumerate(zip(batches, firsts, strict=True)):
                if batch_id == horizon_at:
                    _set_horizon(lane, horizon)
                cut = horizon if batch_id >= horizon_at else BASE - timedelta(days=1)
                given: StagedEvents | dict[str, list[ViewRow]] = (
                    from_rows((*e[:8], e[8]) for e in events)
                    if given_as == "events"
                    else _view_rows(first, cut)
                )
                assert view.apply(given_as, batch_id, given) is not None
                if batch_id == 2:  # a replay (Spark's, after a crash) changes nothing
                    assert view.apply(given_as, batch_id, given) is None
        got[given_as] = all_views_rows(lane.settings, "speed")

    assert got["events"] == got["rows"]
    assert got["events"] == _expected(firsts, horizon)
