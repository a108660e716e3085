"""The dashboard's web application: the page, its JSON endpoints and ``/metrics``.

Thin wiring (FastAPI): each endpoint reads through :class:`DashboardReads` or the health
monitor's snapshot and returns a document of :mod:`serving_layer.dashboard.documents`.
The page (``page/``) draws its charts from these same endpoints with Plotly, whose script
comes from the ``plotly`` package installed at set-up: nothing is fetched from the
internet at run time. Errors are JSON with one line, never a DSN or a password
(:mod:`serving_layer.dashboard.failures`): 404 for an unknown path or view, 400 for a bad
parameter, 503 while the warehouse is unreachable, busy or not set up, 500 for a bug. A
request whose Host is not an allowed name gets 400 before any of it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from lambda_common.errors import ServiceUnavailable
from lambda_common.setting_types import allowed_host
from lambda_common.settings import Settings
from lambda_common.views import View
from serving_layer.dashboard import documents, failures
from serving_layer.dashboard.failures import UnknownView
from serving_layer.dashboard.metrics import PipelineCollector
from serving_layer.dashboard.monitor import Snapshot
from serving_layer.dashboard.reads import DashboardReads
from serving_layer.params import window_start
from serving_layer.status_meanings import MEANINGS

PAGE = Path(str(resources.files("serving_layer.dashboard") / "page"))
# The page's own files may only load from this server: no CDN, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::"})  # noqa: S104 - what "every interface" is
"""``DASHBOARD_HOST`` values that listen on every interface: no name of their own."""


def plotly_script() -> Path:
    """plotly.js as the ``plotly`` package ships it (installed from PyPI at set-up)."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise ServiceUnavailable(f"plotly.js not found at {path}: reinstall with make setup")
    return path


def allowed_hosts(settings: Settings) -> tuple[str, ...]:
    """The Host names the dashboard answers to: ``DASHBOARD_ALLOWED_HOSTS``, and
    ``DASHBOARD_HOST`` itself when it is one address rather than every interface (a
    browser sent there by that address or name is not being rebound by another site).

    Any other Host gets 400 ``Invalid host header`` (Starlette's check, whatever the port
    in the header): with DNS rebinding, a page of evil.example whose name has been made
    to resolve to this machine would otherwise read the dashboard as its own origin.
    """
    hosts = list(settings.dashboard_hosts)
    listen = settings.dashboard_host
    if listen not in WILDCARD_ADDRESSES:
        try:
            name = allowed_host(listen)
        except ValueError:
            name = ""  # no address at all: check_port refuses it at start
        if name and name not in hosts:
            hosts.append(name)
    return tuple(hosts)


def create_app(
    settings: Settings,
    reads: DashboardReads,
    latest: Callable[[], Snapshot | None],
    clock: Callable[[], datetime],
) -> FastAPI:
    """The application: ``reads`` behind the charts, ``latest`` the newest health
    snapshot (status panel and ``/metrics``), ``clock`` the current naive-UTC time."""
    views = {v.name: v for v in settings.views}
    app = FastAPI(
        title="lambda-tweets dashboard",
        description="The serving views by layer, and the pipeline's health (all times UTC).",
        docs_url=None,  # the interactive docs load their scripts from a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    registry = CollectorRegistry(auto_describe=True)
    registry.register(PipelineCollector(latest, clock))
    plotly = plotly_script()

    # Middleware added later wraps what was added before: the Host is checked before
    # anything else runs, and the security headers go on every answer, refusals included.
    failures.install(app)
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=list(allowed_hosts(settings)), www_redirect=False
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def view_named(name: str) -> View:
        view = views.get(name)
        if view is None:
            raise UnknownView(name, tuple(views))
        return view

    # Endpoints that never wait on the warehouse are ``async``: they run on the event loop
    # itself, so reads held up by the warehouse, which run in the worker threads (sync
    # endpoints), can never keep /healthz, /metrics or the status panel from answering.

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(PAGE / "index.html", media_type="text/html")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(plotly, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=PAGE), name="static")

    @app.get("/api/views", summary="The views, their keys and relations")
    async def list_views() -> dict[str, Any]:
        return {
            "views": [documents.view_document(v) for v in views.values()],
            "refresh_s": settings.dashboard_refresh,
            "time_zone": "UTC",
        }

    # The reads: sync, so each runs in a worker thread while it waits on the warehouse
    # (WarehouseReads bounds how many do, and for how long).

    @app.get("/api/views/{name}/hours", summary="Tweets per hour, by serving layer")
    def view_hours(
        name: str,
        hours: Annotated[int, Query(ge=1, le=documents.MAX_HOURS)] = documents.DEFAULT_HOURS,
    ) -> dict[str, Any]:
        view = view_named(name)
        now = clock()
        since = _since(now, hours)
        return documents.hours_document(view, reads.hours(view, since), since, now)

    @app.get("/api/views/{name}/top", summary="The window's top keys and their shares")
    def view_top(
        name: str,
        hours: Annotated[int, Query(ge=1, le=documents.MAX_HOURS)] = documents.DEFAULT_HOURS,
        limit: Annotated[int, Query(ge=1, le=documents.MAX_LIMIT)] = documents.DEFAULT_LIMIT,
    ) -> dict[str, Any]:
        view = view_named(name)
        since = _since(clock(), hours)
        return documents.top_document(view, reads.top(view, since, limit), since, limit)

    @app.get("/api/speed", summary="The speed layer's newest micro-batches")
    def speed(
        limit: Annotated[int, Query(ge=1, le=documents.MAX_BATCHES)] = documents.DEFAULT_BATCHES,
    ) -> dict[str, Any]:
        return documents.speed_document(reads.speed_batches(limit), clock())

    @app.get("/api/status", summary="make status: checks, horizon, freshness, lag, rejects")
    async def status() -> dict[str, Any]:
        return documents.status_document(latest(), clock())

    @app.get("/api/checks", summary="What each family of make status checks means")
    async def checks() -> dict[str, Any]:
        return {"families": [{"family": f, "meaning": m} for f, m in MEANINGS.items()]}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        # The monitor's newest snapshot, rendered in microseconds: a scrape never waits
        # on a service, however slow the warehouse is.
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def _since(now: datetime, hours: int) -> datetime:
    start = window_start(now, hours, None)
    assert start is not None  # hours is given
    return start
