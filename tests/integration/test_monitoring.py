"""make monitoring-up against the real pipeline: Debian's Prometheus scrapes a real
dashboard with the project's rules (test-sized: every ``for:`` 5 s, scraped and evaluated
every second), and the horizon alert goes pending, then firing, through Prometheus's HTTP
API while no batch cycle runs, then resolves once one has.

The horizon is made old honestly, by a real batch cycle: the first cycle runs with
ALLOWED_LATENESS=3h (its horizon is the hour that started 3 to 4 hours ago), while the
dashboard and the rules judge with ALLOWED_LATENESS=0s and BATCH_INTERVAL=1s (a limit of
1h2s): exactly a batch layer that last ran hours ago. The second cycle, with the same
settings as the rules, moves the horizon to this hour."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lambda_monitoring.prometheus import Monitoring, PrometheusService
from tests.compose_stack import free_port

from .helpers import Lane, run_module
from .test_dashboard import dashboard

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

ALERT = "LambdaBatchHorizonTooOld"
HOLD = timedelta(seconds=5)
# The rules' and the dashboard's settings: the horizon's limit is 0s + 1h + 2 x 1s.
JUDGED = {"ALLOWED_LATENESS": "0s", "BATCH_INTERVAL": "1s"}


def _cycle(lane: Lane, lateness: str) -> None:
    """Some events, then one batch cycle with ALLOWED_LATENESS=``lateness``."""
    # SPEED_RETENTION must cover 2h + ALLOWED_LATENESS (checked at start).
    env = {**lane.env(), "ALLOWED_LATENESS": lateness, "SPEED_RETENTION": "6h"}
    produced = run_module("ingestion", "--count", "30", "--rate", "0", env=env)
    assert produced.returncode == 0, produced.stderr[-2000:]
    cycle = run_module("batch_layer", "once", env=env)
    assert cycle.returncode == 0, cycle.stderr[-3000:]


def _horizon_alert(prometheus: PrometheusService) -> dict[str, Any] | None:
    """The horizon alert as Prometheus's /api/v1/alerts lists it (pending or firing)."""
    listed: Any = prometheus.api("/api/v1/alerts")["alerts"]
    mine = [a for a in listed if a["labels"]["alertname"] == ALERT]
    assert len(mine) <= 1, mine
    return mine[0] if mine else None


def _wait(what: str, until: Callable[[], bool], timeout_s: float, log: Path) -> float:
    """Poll ``until`` every 0.5 s; the seconds it took, or fail naming ``what``."""
    started = time.monotonic()
    while not until():
        if time.monotonic() - started > timeout_s:
            pytest.fail(f"{what} not seen within {timeout_s:.0f}s; Prometheus log: {log}")
        time.sleep(0.5)
    return time.monotonic() - started


def test_horizon_alert_pends_fires_and_resolves_in_prometheus(lane: Lane, tmp_path: Path) -> None:
    _cycle(lane, "3h")  # the last cycle, hours ago
    env = {**lane.env(), **JUDGED}
    with dashboard(env, tmp_path / "dashboard.log") as base:
        dashboard_port = int(base.rsplit(":", 1)[1])
        settings = lane.settings.model_copy(
            update={
                "local_stack_dir": tmp_path / "stack",
                "prometheus_port": free_port(),
                "dashboard_port": dashboard_port,
                "allowed_lateness": 0,
                "batch_interval": 1,
            }
        )
        prometheus = PrometheusService(
            settings, tmp_path / "stack", hold=HOLD, scrape_interval=timedelta(seconds=1)
        )
        monitoring = Monitoring(settings, prometheus)
        started = time.monotonic()
        try:
            logger.info("prometheus: %s", monitoring.up())
            log = prometheus.log_path
            rules = (prometheus.home / "alerts.yml").read_text()
            assert "lambda_batch_horizon_age_seconds > 3602" in rules, rules[:2000]
            states: list[str] = []

            def seen(state: str) -> bool:
                alert = _horizon_alert(prometheus)
                if alert is not None and alert["state"] not in states:
                    states.append(alert["state"])
                return alert is not None and alert["state"] == state

            pending_s = _wait("the alert pending", lambda: seen("pending"), 60, log)
            firing_s = _wait("the alert firing", lambda: seen("firing"), 30, log)
            alert = _horizon_alert(prometheus)
            assert alert is not None
            assert alert["labels"]["severity"] == "warning"
            assert alert["annotations"]["summary"].startswith("The batch horizon is ")
            description = alert["annotations"]["description"]
            assert "ALLOWED_LATENESS + 1h + 2 x BATCH_INTERVAL = 1h2s" in description
            assert float(alert["value"]) > 3 * 3600
            # Pending for the whole hold before firing (it may fire between two polls).
            assert states[0] == "pending" and firing_s >= HOLD.total_seconds() - 1.5

            _cycle(lane, JUDGED["ALLOWED_LATENESS"])  # the batch layer is back
            resolved_s = _wait(
                "the alert resolved", lambda: _horizon_alert(prometheus) is None, 60, log
            )
            logger.info(
                "pending after %.1fs, firing %.1fs later, resolved %.1fs after the cycle; "
                "%.0fs with Prometheus",
                pending_s,
                firing_s,
                resolved_s,
                time.monotonic() - started,
            )
            targets: Any = prometheus.api("/api/v1/targets")["activeTargets"]
            assert [(t["labels"]["job"], t["health"]) for t in targets] == [("lambda-tweets", "up")]
        finally:
            monitoring.down()
    assert prometheus.pid() is None
