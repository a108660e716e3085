"""The dashboard without services: its documents and metrics from crafted facts, and its
endpoints against an in-memory implementation of :class:`DashboardReads`."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lambda_common.errors import ConfigError, QueryError, ServiceUnavailable
from lambda_common.settings import Settings, load_settings
from lambda_common.views import View, load_views
from serving_layer.dashboard import documents
from serving_layer.dashboard.app import SECURITY_HEADERS, allowed_hosts, create_app
from serving_layer.dashboard.command import address, check_port
from serving_layer.dashboard.failures import INTERNAL_ERROR
from serving_layer.dashboard.metrics import metric_families
from serving_layer.dashboard.monitor import HealthMonitor, Snapshot
from serving_layer.dashboard.pool import WarehouseBusy
from serving_layer.dashboard.reads import HourRow, Hours, KeyRow, MicroBatch, NotSetUp, Top
from serving_layer.status_checks import evaluate
from serving_layer.status_meanings import MEANINGS, family
from tests.unit.test_status import NOW, healthy, with_kafka, with_warehouse

HORIZON = datetime(2026, 11, 25, 12, 0)
# The first part of every check's name (docs/monitoring.md's table also names tables, groups).
CHECK_ROOTS = {"kafka", "s3", "warehouse", "batch", "speed", "rows", "serving"}


@dataclass
class InMemoryReads:
    """:class:`DashboardReads` over rows held in memory: ``cells[view][(hour, key)]`` is
    the tweets of one serving-view row. ``failure`` is raised by every read when set."""

    horizon: datetime | None = HORIZON
    cells: dict[str, dict[tuple[datetime, tuple[Any, ...]], int]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    batches: list[MicroBatch] = field(default_factory=list)
    failure: Exception | None = None

    def _check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def hours(self, view: View, since: datetime) -> Hours:
        self._check()
        totals: dict[datetime, int] = defaultdict(int)
        for (hour, _), tweets in self.cells[view.name].items():
            if hour >= since:
                totals[hour] += tweets
        layer = lambda hour: "batch" if self.horizon and hour < self.horizon else "speed"  # noqa: E731
        return Hours(
            self.horizon, tuple(HourRow(h, t, layer(h)) for h, t in sorted(totals.items()))
        )

    def top(self, view: View, since: datetime, limit: int) -> Top:
        self._check()
        totals: dict[tuple[Any, ...], int] = defaultdict(int)
        for (hour, key), tweets in self.cells[view.name].items():
            if hour >= since:
                totals[key] += tweets
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return Top(sum(totals.values()), tuple(KeyRow(k, t) for k, t in ranked))

    def speed_batches(self, limit: int) -> tuple[MicroBatch, ...]:
        self._check()
        return tuple(sorted(self.batches, key=lambda b: -b.batch_id)[:limit])


@pytest.fixture
def settings() -> Settings:
    return load_settings(allowed_lateness="10m", batch_interval="5m", speed_trigger="1s")


def snapshot(settings: Settings, facts: Any = None) -> Snapshot:
    facts = facts or healthy()
    return Snapshot(NOW - timedelta(seconds=2), 0.25, facts, tuple(evaluate(facts, settings, NOW)))


def client_for(
    settings: Settings, reads: InMemoryReads, snap: Snapshot | None = None
) -> TestClient:
    app = create_app(settings, reads, lambda: snap, lambda: NOW)
    # A Host the default DASHBOARD_ALLOWED_HOSTS admits, as a browser on this machine sends.
    return TestClient(app, base_url="http://127.0.0.1:8050")


def filled() -> InMemoryReads:
    reads = InMemoryReads()
    for hours_ago, location, tweets in (
        (0, "Paris", 5),
        (1, "Paris", 3),
        (1, "Lyon", 2),
        (2, "Lyon", 7),
        (60, "Paris", 100),  # outside the default 48-hour window
    ):
        hour = NOW.replace(minute=0) - timedelta(hours=hours_ago)
        reads.cells["locations"][(hour, (location,))] = tweets
    return reads


# Documents --------------------------------------------------------------------------


def test_hours_document_labels_each_hour_by_layer_and_totals_them() -> None:
    view = next(v for v in load_views() if v.name == "locations")
    rows = (
        HourRow(datetime(2026, 11, 25, 11), 10, "batch"),
        HourRow(datetime(2026, 11, 25, 12), 4, "speed"),
    )
    since = datetime(2026, 11, 23, 13)
    doc = documents.hours_document(view, Hours(HORIZON, rows), since, NOW)
    assert doc["horizon"] == "2026-11-25T12:00:00Z"
    assert doc["since"] == "2026-11-23T13:00:00Z"
    assert doc["until"] == "2026-11-25T13:00:00Z"
    assert doc["rows"][0] == {"hour": "2026-11-25T11:00:00Z", "tweets": 10, "layer": "batch"}
    assert doc["totals"] == {"batch": 10, "speed": 4, "all": 14}
    assert doc["serving_view"] == "serving_view"


def test_top_document_shares_are_of_the_whole_window() -> None:
    view = next(v for v in load_views() if v.name == "hashtags")
    top = Top(200, (KeyRow(("python",), 50), KeyRow(("rust",), 30)))
    doc = documents.top_document(view, top, datetime(2026, 11, 24), 2)
    assert doc["keys"] == ["hashtag"]
    assert doc["rows"][0] == {
        "key": {"hashtag": "python"},
        "label": "python",
        "tweets": 50,
        "share": 0.25,
    }
    assert doc["rows"][1]["share"] == 0.15
    empty = documents.top_document(view, Top(0, ()), datetime(2026, 11, 24), 2)
    assert empty["rows"] == [] and empty["total"] == 0


def test_speed_document_rates_and_order() -> None:
    batches = (
        MicroBatch(8, NOW, 500, 1_000, 2, NOW - timedelta(seconds=1)),
        MicroBatch(7, NOW - timedelta(seconds=1), 0, 0, 0, None),
    )
    doc = documents.speed_document(batches, NOW)
    assert [b["batch_id"] for b in doc["batches"]] == [7, 8]  # oldest first, as drawn
    assert doc["batches"][1]["input_rate"] == 2_000.0
    assert doc["batches"][1]["duration_s"] == 0.5
    assert doc["batches"][0]["input_rate"] is None  # an instant batch has no rate


def test_status_document_holds_make_status_checks_and_their_numbers(settings: Settings) -> None:
    snap = snapshot(settings)
    doc = documents.status_document(snap, NOW)
    assert doc["status"] == "OK"
    # make status's checks, the last make verify's among them (none has run here).
    assert [c["name"] for c in doc["checks"]] == [c.name for c in snap.checks]
    line = next(c for c in doc["checks"] if c["name"] == "batch.verify")
    assert line["detail"] == "no make verify run yet" and line["meaning"].startswith("The last")
    assert doc["counts"]["OK"] == len(snap.checks)
    assert doc["horizon_age_s"] == 30 * 60
    assert doc["freshness_s"] == 3
    assert doc["partitions"][2] == {"partition": 2, "end": 1_002, "committed": 900, "lag": 102}
    assert doc["rejects"]["batch"] == {"rejects": 3, "messages": 2_703}
    assert doc["rejects"]["speed"] == {"rejects": 4, "messages": 3_000}
    assert {v["view"] for v in doc["views"]} == {"locations", "hashtags", "languages"}
    assert all(c["meaning"] for c in doc["checks"])  # every line links to what it means
    assert documents.status_document(None, NOW)["status"] is None


def test_status_document_of_a_failing_pipeline(settings: Settings) -> None:
    facts = with_warehouse(healthy(), error="warehouse at postgresql://r:***@h/db: refused")
    doc = documents.status_document(snapshot(settings, facts), NOW)
    assert doc["status"] == "FAIL"
    assert doc["errors"]["warehouse"].endswith("refused")


@pytest.mark.parametrize(
    ("check", "expected"),
    [
        ("kafka", "kafka"),
        ("kafka.topic_id", "kafka.topic_id"),
        ("kafka.partition.12", "kafka.partition"),
        ("batch.partition.3", "batch.partition"),
        ("batch.lost.2.120", "batch.lost"),
        ("batch.lost.more", "batch.lost"),
        ("rows.serving_hashtags", "rows"),
        ("serving.integrity.languages", "serving.integrity"),
        ("speed.last-batch", "speed.last-batch"),
    ],
)
def test_family(check: str, expected: str) -> None:
    assert family(check) == expected
    assert expected in MEANINGS


def test_every_family_the_docs_explain_has_a_meaning_and_back() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
    text = page.read_text(encoding="utf-8")
    table = text.split("| check | OK | WARN | FAIL |", 1)[1].split("\n\n", 1)[0]
    named = set()
    for line in table.splitlines()[2:]:
        first_cell = line.split("|")[1]
        for name in re.findall(r"`([a-z0-9_.<>A-Z-]+)`", first_cell):
            if name.split(".")[0] in CHECK_ROOTS:
                named.add(family(name.replace(".<view>", ".x").replace(".N", ".0")))
    named = {"rows" if n.startswith("rows") else n for n in named}
    assert named == set(MEANINGS)


# Metrics ----------------------------------------------------------------------------


def scraped(snap: Snapshot | None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import CollectorRegistry, generate_latest

    from serving_layer.dashboard.metrics import PipelineCollector

    registry = CollectorRegistry()
    registry.register(PipelineCollector(lambda: snap, lambda: NOW))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_metrics_of_a_healthy_pipeline(settings: Settings) -> None:
    values = scraped(snapshot(settings))
    assert values[("lambda_status_up", ())] == 1
    assert values[("lambda_kafka_partition_lag", (("partition", "0"),))] == 100
    assert values[("lambda_batch_horizon_age_seconds", ())] == 30 * 60
    assert values[("lambda_freshness_seconds", ())] == 3
    assert values[("lambda_rejects", (("layer", "speed"),))] == 4
    assert values[("lambda_messages", (("layer", "batch"),))] == 2_703
    assert values[("lambda_view_rows", (("relation", "batch"), ("view", "hashtags")))] == 70
    assert values[("lambda_view_duplicate_keys", (("view", "locations"),))] == 0
    assert values[("lambda_status_check", (("check", "kafka"), ("family", "kafka")))] == 0
    assert values[("lambda_status_checks", (("level", "FAIL"),))] == 0
    assert values[("lambda_service_up", (("service", "warehouse"),))] == 1
    assert values[("lambda_status_age_seconds", ())] == 2


def test_metrics_report_failures_and_missing_facts(settings: Settings) -> None:
    facts = with_kafka(healthy(), error="Kafka at localhost:9092: NoBrokersAvailable")
    facts = with_warehouse(facts, horizon=None, last_speed_batch=None, max_event_time=None)
    values = scraped(snapshot(settings, facts))
    assert values[("lambda_service_up", (("service", "kafka"),))] == 0
    assert values[("lambda_status_check", (("check", "kafka"), ("family", "kafka")))] == 2
    assert ("lambda_batch_horizon_age_seconds", ()) not in values  # unknown, not zero
    assert ("lambda_freshness_seconds", ()) not in values
    assert scraped(None) == {("lambda_status_up", ()): 0}


def _verify_line(doc: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == "batch.verify")


def test_the_last_verify_is_a_metric_and_a_line_of_the_checks_panel(settings: Settings) -> None:
    from serving_layer.status_facts import VerifyFacts

    assert not any(name.startswith("lambda_verify") for name, _ in scraped(snapshot(settings)))
    run = VerifyFacts(NOW - timedelta(minutes=5), True, 3, 1_234, 5_000, 2.5, "")
    facts = with_warehouse(healthy(), last_verify=run)
    values = scraped(snapshot(settings, facts))
    assert values[("lambda_verify_ok", ())] == 1
    assert values[("lambda_verify_rows_compared", ())] == 1_234
    assert values[("lambda_verify_events", ())] == 5_000
    assert values[("lambda_verify_duration_seconds", ())] == 2.5
    finished = values[("lambda_verify_last_run_timestamp_seconds", ())]
    assert finished == (NOW - timedelta(minutes=5)).replace(tzinfo=UTC).timestamp()
    line = _verify_line(documents.status_document(snapshot(settings, facts), NOW))
    assert line["level"] == "OK" and line["family"] == "batch.verify"
    assert line["detail"].endswith(": 3 views, 1,234 rows and 5,000 events exact in 2.5s")
    failed = replace(run, ok=False, failed="FAIL locations (batch_view): 1 of 9 rows differ")
    doc = documents.status_document(
        snapshot(settings, with_warehouse(healthy(), last_verify=failed)), NOW
    )
    assert doc["status"] == "FAIL" and _verify_line(doc)["level"] == "FAIL"
    assert _verify_line(doc)["detail"].endswith(": FAIL locations (batch_view): 1 of 9 rows differ")
    assert (
        scraped(snapshot(settings, with_warehouse(healthy(), last_verify=failed)))[
            ("lambda_verify_ok", ())
        ]
        == 0
    )


def test_speed_rate_metric_from_the_last_micro_batch(settings: Settings) -> None:
    from serving_layer.status_facts import SpeedBatchFacts

    facts = with_warehouse(healthy(), last_speed_batch=SpeedBatchFacts(9, NOW, 3_000, 1_500))
    values = scraped(snapshot(settings, facts))
    assert values[("lambda_speed_input_rate", ())] == 2_000
    assert values[("lambda_speed_microbatch_duration_seconds", ())] == 1.5
    assert len(metric_families(snapshot(settings, facts), NOW)) > 10


# The monitor -----------------------------------------------------------------------


def test_monitor_keeps_the_newest_snapshot(settings: Settings) -> None:
    calls: list[datetime] = []

    def gatherer(now: datetime) -> Any:
        calls.append(now)
        facts = healthy()
        return facts, evaluate(facts, settings, now)

    monitor = HealthMonitor(gatherer, 60, lambda: NOW)
    assert monitor.latest() is None
    snap = monitor.refresh()
    assert monitor.latest() is snap and calls == [NOW]
    assert snap.gathered_at == NOW and snap.checks


# The endpoints ---------------------------------------------------------------------


def test_hours_endpoint_reads_the_window(settings: Settings) -> None:
    client = client_for(settings, filled())
    doc = client.get("/api/views/locations/hours").json()
    assert doc["totals"]["all"] == 17  # the 60-hour-old row is outside 48 hours
    assert doc["since"] == "2026-11-23T13:00:00Z"
    layers = {r["hour"]: r["layer"] for r in doc["rows"]}
    assert layers["2026-11-25T12:00:00Z"] == "speed"
    assert layers["2026-11-25T11:00:00Z"] == "batch"
    wide = client.get("/api/views/locations/hours?hours=72").json()
    assert wide["totals"]["all"] == 117


def test_top_endpoint(settings: Settings) -> None:
    client = client_for(settings, filled())
    doc = client.get("/api/views/locations/top?limit=1").json()
    assert doc["rows"] == [
        {"key": {"location": "Lyon"}, "label": "Lyon", "tweets": 9, "share": round(9 / 17, 6)}
    ]


def test_empty_views_are_documents_not_errors(settings: Settings) -> None:
    client = client_for(settings, InMemoryReads(horizon=None))
    for name in ("locations", "hashtags", "languages"):
        doc = client.get(f"/api/views/{name}/hours").json()
        assert doc["rows"] == [] and doc["horizon"] is None
    assert client.get("/api/speed").json()["batches"] == []
    assert client.get("/api/status").json()["status"] is None  # not gathered yet


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (
            ServiceUnavailable("warehouse at postgresql://r:***@h:5439/db is unreachable"),
            "unavailable",
        ),
        (NotSetUp("the pipeline's tables and views are not created yet"), "not_set_up"),
        (WarehouseBusy("the warehouse is busy: 16 reads are already waiting for it"), "busy"),
    ],
)
def test_warehouse_errors_are_one_line_json(
    settings: Settings, failure: Exception, kind: str
) -> None:
    client = client_for(settings, InMemoryReads(failure=failure))
    for path in ("/api/views/locations/hours", "/api/views/hashtags/top", "/api/speed"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.json() == {"error": str(failure), "kind": kind}


def test_status_codes_say_what_went_wrong(settings: Settings) -> None:
    """404 for what does not exist, 400 for a bad parameter (finding 12: not FastAPI's
    422), each one line of JSON that never echoes the value sent."""
    client = client_for(settings, filled())
    for path, code in (
        ("/api/views/nope/hours", 404),
        ("/api/nope", 404),
        ("/api/views/locations/hours?hours=0", 400),
        ("/api/views/locations/hours?hours=many", 400),
        ("/api/views/locations/top?limit=100000", 400),
        ("/api/speed?limit=-1", 400),
    ):
        response = client.get(path)
        assert response.status_code == code, (path, response.status_code, response.text)
        body = response.json()
        assert set(body) == {"error", "kind"} and "\n" not in body["error"], (path, body)
        assert "many" not in body["error"] and "100000" not in body["error"], body
    missing = client.get("/api/views/nope/hours").json()
    assert missing["error"].startswith("unknown view 'nope'") and missing["kind"] == "not_found"
    bad = client.get("/api/views/locations/hours?hours=0").json()
    assert bad["error"].startswith("invalid parameter hours: ") and bad["kind"] == "bad_request"
    assert client.post("/api/speed").status_code == 405


@pytest.mark.parametrize(
    "failure",
    [
        KeyError("location"),
        IndexError("tuple index out of range"),
        ZeroDivisionError("division by zero"),
    ],
)
def test_a_bug_is_a_500_with_one_line_and_the_traceback_in_the_log_only(
    settings: Settings, failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """A stray ``KeyError`` or ``IndexError`` is a bug of the dashboard, not an unknown
    view (finding 12): 500, one line that says nothing of the exception, its traceback in
    the log."""
    client = client_for(settings, InMemoryReads(failure=failure))
    for path in ("/api/views/locations/hours", "/api/views/hashtags/top", "/api/speed"):
        with caplog.at_level(logging.ERROR, logger="serving_layer.dashboard"):
            response = client.get(path)
        assert response.status_code == 500, (path, response.status_code)
        assert response.json() == {"error": INTERNAL_ERROR, "kind": "internal"}
        assert str(failure) not in response.text
        # The security headers go on error answers too.
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" in caplog.text and type(failure).__name__ in caplog.text


def test_a_read_the_warehouse_refuses_is_a_500_with_its_one_line(settings: Settings) -> None:
    failure = QueryError('dashboard read dashboard_top failed: column "location" does not exist')
    response = client_for(settings, InMemoryReads(failure=failure)).get("/api/views/locations/top")
    assert response.status_code == 500
    assert response.json() == {"error": str(failure), "kind": "error"}


def test_page_assets_metrics_and_headers(settings: Settings) -> None:
    client = client_for(settings, filled(), snapshot(settings))
    page = client.get("/")
    assert page.status_code == 200 and 'id="status-panel"' in page.text
    assert page.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert "cdn" not in page.text.lower()
    for asset in ("/vendor/plotly.min.js", "/static/dashboard.js", "/static/dashboard.css"):
        assert client.get(asset).status_code == 200, asset
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "lambda_kafka_partition_lag" in metrics.text
    views = client.get("/api/views").json()
    assert [v["name"] for v in views["views"]] == ["locations", "hashtags", "languages"]
    assert views["refresh_s"] == settings.dashboard_refresh and views["time_zone"] == "UTC"
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 404  # its scripts would come from a CDN
    families = client.get("/api/checks").json()["families"]
    assert {f["family"] for f in families} == set(MEANINGS)


# Settings and start-up ----------------------------------------------------------------


@pytest.mark.usefixtures("clean_env")  # the defaults, not a developer's .env
def test_dashboard_settings() -> None:
    settings = load_settings()
    assert (settings.dashboard_host, settings.dashboard_port) == ("127.0.0.1", 8050)
    assert address(settings) == "http://127.0.0.1:8050/"
    assert address(replace_host(settings, "::1")) == "http://[::1]:8050/"
    with pytest.raises(ConfigError, match="DASHBOARD_PORT"):
        load_settings(dashboard_port=70_000)
    with pytest.raises(ConfigError, match="DASHBOARD_REFRESH"):
        load_settings(dashboard_refresh="0s")


def replace_host(settings: Settings, host: str) -> Settings:
    return settings.model_copy(update={"dashboard_host": host})


def test_a_taken_port_fails_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = load_settings(dashboard_port=port)
        with pytest.raises(ConfigError, match=f"DASHBOARD_PORT: cannot listen on 127.0.0.1:{port}"):
            check_port(settings)


def test_status_facts_replace_keeps_partition_lag() -> None:
    p = replace(healthy().kafka.partitions[0], committed=None)
    assert p.lag == p.end - p.beginning


# Labels reach Plotly as text ---------------------------------------------------------

PHISH = '<a href="https://phish.example/login">x</a>'
OVERLAY = '<span style="position:fixed;top:0">&amp; pay here</span>'


def test_labels_for_plotly_are_text_not_markup() -> None:
    """Plotly draws a subset of HTML in any text it is given (links, styled spans): a key
    reaches the page's charts only as its ``label``, with ``<``, ``>`` and ``&`` escaped
    (finding 8). Scripts still get the value as it is under ``key``."""
    view = next(v for v in load_views() if v.name == "locations")
    top = Top(3, (KeyRow((PHISH,), 2), KeyRow((OVERLAY,), 1)))
    doc = documents.top_document(view, top, datetime(2026, 11, 24), 2)
    assert [r["label"] for r in doc["rows"]] == [
        '&lt;a href="https://phish.example/login"&gt;x&lt;/a&gt;',
        '&lt;span style="position:fixed;top:0"&gt;&amp;amp; pay here&lt;/span&gt;',
    ]
    assert doc["rows"][0]["key"] == {"location": PHISH}
    assert documents.plotly_text(None) == "" and documents.plotly_text("Paris") == "Paris"


def test_the_top_endpoint_sends_no_markup_to_the_page(settings: Settings) -> None:
    reads = InMemoryReads()
    hour = NOW.replace(minute=0)
    reads.cells["locations"][(hour, (PHISH,))] = 5
    reads.cells["locations"][(hour, (OVERLAY,))] = 3
    rows = client_for(settings, reads).get("/api/views/locations/top").json()["rows"]
    labels = json.dumps([r["label"] for r in rows])
    assert "<" not in labels and ">" not in labels, labels
    assert {r["key"]["location"] for r in rows} == {PHISH, OVERLAY}


# The Host header ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8050", "127.0.0.1.evil.example", "localhost.evil", "[::2]"],
)
def test_another_host_is_refused(settings: Settings, host: str) -> None:
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 may not
    read the dashboard (finding 9): every path, /healthz and /metrics included, answers 400
    with one line unless the Host is one DASHBOARD_ALLOWED_HOSTS names."""
    client = client_for(settings, filled(), snapshot(settings))
    paths = ("/", "/api/views", "/api/views/locations/top", "/api/status", "/metrics", "/healthz")
    for path in paths:
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, (path, response.status_code)
        assert response.text == "Invalid host header", response.text
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8050", "LocalHost:9999", "127.0.0.1", "[::1]:8050"]
)
def test_the_loopback_names_are_allowed_on_any_port(settings: Settings, host: str) -> None:
    client = client_for(settings, filled())
    assert client.get("/api/views/locations/top", headers={"Host": host}).status_code == 200


def test_the_allowed_hosts_are_the_setting_and_the_listening_address(settings: Settings) -> None:
    named = settings.model_copy(update={"dashboard_allowed_hosts": "dash.example.com"})
    client = client_for(named, filled())
    assert client.get("/healthz", headers={"Host": "dash.example.com:80"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    assert allowed_hosts(named) == ("dash.example.com", "127.0.0.1")  # DASHBOARD_HOST's
    for listen, extra in (
        ("0.0.0.0", ()),  # noqa: S104 - every interface, as in a container
        ("::", ()),
        ("::1", ("[::1]",)),
        ("10.1.2.3", ("10.1.2.3",)),
    ):
        moved = named.model_copy(update={"dashboard_host": listen})
        assert allowed_hosts(moved) == ("dash.example.com", *extra), listen


# Liveness while the warehouse holds reads up -------------------------------------------


class BlockedReads(InMemoryReads):
    """Every read waits until ``gate`` is set, as reads do behind a lock the batch layer
    holds; ``entered`` counts the reads waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.entered = 0
        self._count = threading.Lock()

    def _check(self) -> None:
        with self._count:
            self.entered += 1
        self.gate.wait(30)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, as ``make dashboard`` serves it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn never started"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def timed_get(url: str, timeout: float) -> tuple[int, float]:
    """The status of a GET and how long it took (status 0: no answer in ``timeout``)."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            status = int(response.status)
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0
    return status, time.monotonic() - started


def test_liveness_and_metrics_answer_while_every_read_hangs(settings: Settings) -> None:
    """45 chart reads stuck behind the warehouse fill the server's worker threads;
    /healthz and /metrics still answer within 1 s each, from the monitor's snapshot
    (finding 4)."""
    reads = BlockedReads()
    app = create_app(settings, reads, lambda: snapshot(settings), lambda: NOW)
    with serving(app) as base, ThreadPoolExecutor(45) as pool:
        try:
            stuck = [
                pool.submit(timed_get, f"{base}/api/views/locations/hours", 40) for _ in range(45)
            ]
            deadline = time.monotonic() + 10
            while reads.entered < 40 and time.monotonic() < deadline:
                time.sleep(0.05)
            # Every worker thread (anyio's 40) is taken by a read that waits.
            assert reads.entered >= 40, reads.entered
            for path in ("/healthz", "/metrics", "/api/status", "/healthz", "/metrics"):
                status, took = timed_get(base + path, 5)
                assert (status, took < 1.0) == (200, True), (path, status, took)
        finally:
            reads.gate.set()
        assert all(f.result()[0] in (200, 503) for f in stuck)
