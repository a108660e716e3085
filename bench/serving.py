"""``serving_view`` query latency: the named queries over 30 days x 300 locations, and the
dashboard's endpoints over the same rows, through HTTP.

The views are filled directly (COPY into ``batch_view`` for the hours before the horizon,
``speed_view`` from it on): this measures the serving layer's reads, not the layers'
writes. Each query runs through ``serving_layer.execute.run_named``, as ``make query``
does (read-only transaction, statement timeout), on one open connection. The dashboard
is its real application and server (uvicorn on a free loopback port, in a thread), asked
over one keep-alive HTTP connection as a page's poll would.
"""

from __future__ import annotations

import functools
import http.client
import io
import random
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from batch_layer.hours import BEGINNING
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from local_stack.process import free_ports
from serving_layer.dashboard.app import create_app
from serving_layer.dashboard.monitor import HealthMonitor
from serving_layer.dashboard.reads import WarehouseReads
from serving_layer.execute import run_named
from serving_layer.params import utc_now
from serving_layer.status_checks import evaluate
from serving_layer.status_gather import gather

COLUMNS = ("event_hour", "location", "tweet_count", "followers_sum", "favorite_sum", "retweet_sum")
ENDPOINTS = (
    "/api/views/locations/hours?hours=48",
    "/api/views/locations/hours?hours=168",
    "/api/views/locations/top?hours=48&limit=10",
    "/api/speed?limit=60",
    "/api/status",
    "/metrics",
)
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
            # As the batch layer does with batch_view, every day before the horizon.
            cur.execute(statement, {"since": BEGINNING, "until": horizon})
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
            results = [
                {"query": name, **_timed(functools.partial(run_named, wh, name, params), repeats)}
                for name, params in QUERIES
            ]
        endpoints = _dashboard(lane, repeats)
    finally:
        with Warehouse(settings) as wh:
            wh.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {
        "view_rows": rows,
        "days": days,
        "locations": locations,
        "queries": results,
        "dashboard": endpoints,
    }


def _timed(call: Callable[[], object], repeats: int) -> dict[str, Any]:
    """Milliseconds of ``call`` over ``repeats`` runs after 3 warm-ups."""
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[max(0, round(0.95 * len(times)) - 1)],
        "min_ms": times[0],
        "max_ms": times[-1],
        "runs": repeats,
    }


def _dashboard(lane: Settings, repeats: int) -> list[dict[str, Any]]:
    """Each endpoint's latency through HTTP, the health gathered once beforehand (as the
    running dashboard has it between two refreshes)."""

    def gatherer(now: datetime) -> Any:
        facts = gather(lane, now)
        return facts, evaluate(facts, lane, now)

    monitor = HealthMonitor(gatherer, 3600, utc_now)
    monitor.refresh()
    reads = WarehouseReads(lane)
    port = free_ports(1)
    app = create_app(lane, reads, monitor.latest, utc_now)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def get(path: str) -> None:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")

        return [
            {"endpoint": path, **_timed(functools.partial(get, path), repeats)}
            for path in ENDPOINTS
        ]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        reads.close()
