"""``serving_view`` query latency: the named queries over 30 days x 300 locations.

The views are filled directly (COPY into ``batch_view`` for the hours before the horizon,
``speed_view`` from it on): this measures the serving layer's reads, not the layers'
writes. Each query runs through ``serving_layer.execute.run_named``, as ``make query``
does (read-only transaction, statement timeout), on one open connection.
"""

from __future__ import annotations

import io
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from serving_layer.execute import run_named

COLUMNS = ("event_hour", "location", "tweet_count", "followers_sum", "favorite_sum", "retweet_sum")
QUERIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("latest", {}),
    ("top_locations", {}),
    ("location_hourly", {"location": "Place 0007"}),
    ("daily_totals", {}),
)


def _rows(hours: list[datetime], locations: int, rng: random.Random) -> io.StringIO:
    out = io.StringIO()
    for hour in hours:
        for i in range(locations):
            tweets = rng.randint(1, 400)
            out.write(
                f"{hour:%Y-%m-%d %H:%M:%S}\tPlace {i:04d}\t{tweets}\t"
                f"{tweets * rng.randint(10, 5000)}\t{rng.randint(0, 3 * tweets)}\t"
                f"{rng.randint(0, tweets)}\n"
            )
    out.seek(0)
    return out


def _fill(wh: Warehouse, days: int, locations: int) -> int:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    horizon = now - timedelta(hours=1)
    hours = [now - timedelta(hours=h) for h in range(days * 24)]
    rng = random.Random(5)  # noqa: S311 (made-up view rows, not secrets)
    with wh.transaction() as cur:
        batch = [h for h in hours if h < horizon]
        speed = [h for h in hours if h >= horizon]
        wh.copy_from_stream(cur, "batch_view", COLUMNS, _rows(batch, locations, rng), fmt="text")
        wh.copy_from_stream(cur, "speed_view", COLUMNS, _rows(speed, locations, rng), fmt="text")
        cur.execute("DELETE FROM batch_horizon")
        cur.execute("INSERT INTO batch_horizon (horizon) VALUES (%s)", (horizon,))
        for statement in statements(load_sql("batch_daily_rebuild", wh.dialect)):
            cur.execute(statement)  # as the batch layer does with batch_view
    wh.connection().autocommit = True  # ANALYZE, as autovacuum would after a load
    with wh.connection().cursor() as cur:
        cur.execute("ANALYZE batch_view")
        cur.execute("ANALYZE speed_view")
    wh.connection().autocommit = False
    return len(hours) * locations


def run(
    settings: Settings, days: int = 30, locations: int = 300, repeats: int = 50
) -> dict[str, Any]:
    """p50/p95 milliseconds of each named query (``repeats`` runs after 3 warm-ups)."""
    schema = f"bench_serving_{int(time.time())}"
    with Warehouse(settings) as wh:
        wh.execute(f'CREATE SCHEMA "{schema}"')
    lane = settings.in_schema(schema)
    try:
        with Warehouse(lane) as wh:
            wh.ensure_schema()
            rows = _fill(wh, days, locations)
            results = []
            for name, params in QUERIES:
                for _ in range(3):
                    run_named(wh, name, params)
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    run_named(wh, name, params)
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                results.append(
                    {
                        "query": name,
                        "p50_ms": statistics.median(times),
                        "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
                        "min_ms": times[0],
                        "max_ms": times[-1],
                        "runs": repeats,
                    }
                )
    finally:
        with Warehouse(settings) as wh:
            wh.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {"view_rows": rows, "days": days, "locations": locations, "queries": results}
