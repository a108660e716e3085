"""The project's own Prometheus (``make monitoring-up``): Debian's ``prometheus`` binary
scraping the dashboard's ``/metrics`` with the alert rules rendered for the settings.

Run like the local stack's other programs: its configuration, rules, time-series data,
pid file and log under ``<LOCAL_STACK_DIR>/prometheus/``, started detached, told apart
from another stack's Prometheus by its configuration file's path on its command line, and
listening on 127.0.0.1:PROMETHEUS_PORT only. The Compose stack's ``prometheus`` service
reads the same two files, written for the network's addresses by :func:`write_files`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import urllib.request
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from lambda_common.errors import ServiceUnavailable, StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings
from lambda_monitoring.rules import JOB, Thresholds, duration, render_rules
from local_stack.process import resolve_host
from local_stack.service import PidFileService, Port
from local_stack.stack import START_TIMEOUT_S, LocalStack

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
CONFIG = "prometheus.yml"
RULES = "alerts.yml"
# Prometheus' own defaults are 1m; the dashboard gathers every few seconds and a scrape
# costs it no query (it serves its newest snapshot), so every 15 s is cheap and an alert's
# `for:` counts in samples a quarter as long.
SCRAPE_INTERVAL = timedelta(seconds=15)
# How long the local Prometheus keeps samples (its own default, said here so that
# docs/monitoring.md can).
RETENTION = "15d"


def prometheus_config(
    targets: Sequence[str],
    rules: str = RULES,
    scrape_interval: timedelta = SCRAPE_INTERVAL,
    job: str = JOB,
) -> str:
    """``prometheus.yml``: scrape the dashboard at ``targets`` (``host:port``) as ``job``
    and evaluate the rules in ``rules`` (relative to the configuration's folder)."""
    every = duration(scrape_interval)
    return "\n".join(
        [
            "# The Lambda pipeline's Prometheus (lambda_monitoring/prometheus.py writes it).",
            "global:",
            f"  scrape_interval: {every}",
            f"  evaluation_interval: {every}",
            "rule_files:",
            f"  - {json.dumps(rules)}",
            "scrape_configs:",
            f"  - job_name: {json.dumps(job)}",
            "    static_configs:",
            f"      - targets: {json.dumps(list(targets))}",
            "",
        ]
    )


def write_files(
    folder: Path,
    settings: Settings,
    target: str,
    *,
    hold: timedelta | None = None,
    scrape_interval: timedelta = SCRAPE_INTERVAL,
) -> Path:
    """Write the configuration and the rules for ``settings`` into ``folder``; return the
    configuration's path. ``hold`` replaces every rule's ``for:`` (tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RULES).write_text(render_rules(Thresholds.of(settings), hold))
    config = folder / CONFIG
    config.write_text(prometheus_config([target], scrape_interval=scrape_interval))
    return config


def dashboard_target(settings: Settings) -> str:
    """Where the dashboard of these settings answers on this machine."""
    return f"{resolve_host(settings.dashboard_host)}:{settings.dashboard_port}"


class PrometheusService(PidFileService):
    """Prometheus on 127.0.0.1:PROMETHEUS_PORT, scraping this machine's dashboard."""

    name = "prometheus"

    def __init__(
        self,
        settings: Settings,
        stack_dir: Path,
        *,
        hold: timedelta | None = None,
        scrape_interval: timedelta = SCRAPE_INTERVAL,
    ) -> None:
        super().__init__(settings, stack_dir)
        self.hold = hold
        self.scrape_interval = scrape_interval

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG

    @property
    def marker(self) -> str:
        return str(self.config_path)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://{HOST}:{self.settings.prometheus_port}"

    def ports(self) -> list[Port]:
        return [Port("PROMETHEUS_PORT", HostPort(HOST, self.settings.prometheus_port))]

    def write_files(self) -> None:
        """The configuration and the rules, for the current settings."""
        write_files(
            self.home,
            self.settings,
            dashboard_target(self.settings),
            hold=self.hold,
            scrape_interval=self.scrape_interval,
        )

    def foreground_command(self) -> list[str]:
        binary = shutil.which("prometheus")
        if binary is None:
            raise StackError("prometheus not found: run make deps (Debian's prometheus package)")
        self.write_files()
        return [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--storage.tsdb.retention.time={RETENTION}",
            f"--web.listen-address={HOST}:{self.settings.prometheus_port}",
        ]

    def reload(self) -> None:
        """Write the files again and have the running server read them (SIGHUP)."""
        pid = self.pid()
        if pid is not None:
            self.write_files()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    def api(self, path: str) -> dict[str, object]:
        """One answer of the HTTP API (``/api/v1/...``)'s ``data``."""
        url = self.url + path
        try:
            with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - http://127.0.0.1
                body = json.load(response)
        except (OSError, ValueError) as e:  # URLError is an OSError
            raise ServiceUnavailable(f"Prometheus at {url} not answering: {e}") from e
        if body.get("status") != "success":
            raise ServiceUnavailable(f"Prometheus at {url}: {body.get('error', body)}")
        data: dict[str, object] = body["data"]
        return data

    def probe(self) -> str:
        groups: Any = self.api("/api/v1/rules").get("groups", [])
        rules = sum(len(g.get("rules", [])) for g in groups)
        if not rules:
            raise ServiceUnavailable("Prometheus answers but has loaded no rules yet")
        return f"{self.url}, {rules} alert rules, scraping {dashboard_target(self.settings)}"


class Monitoring(LocalStack):
    """``make monitoring-up`` / ``-down`` / ``-status``: the one Prometheus, managed as the
    local stack's services are (one lock, ports checked before starting, idempotent)."""

    def __init__(self, settings: Settings, service: PrometheusService | None = None) -> None:
        stack_dir = settings.local_stack_dir.resolve()
        self.prometheus = service or PrometheusService(settings, stack_dir)
        super().__init__(settings, services=[self.prometheus])

    def up(
        self, names: Sequence[str] | None = None, timeout_s: float = START_TIMEOUT_S
    ) -> list[str]:
        """Start Prometheus, or have a running one read the rules again (the settings
        they come from may have changed)."""
        reloaded = self.prometheus.pid() is not None
        if reloaded:
            self.prometheus.reload()
        lines = super().up(names, timeout_s)
        return [f"{line}; rules reloaded" for line in lines] if reloaded else lines
