"""``python -m serving_layer dashboard`` (``make dashboard``): the web dashboard and its
Prometheus ``/metrics`` on ``DASHBOARD_HOST:DASHBOARD_PORT`` (127.0.0.1:8050), reading
the warehouse as ``QUERY_DSN``'s user only. Runs until Ctrl-C or SIGTERM.

The page updates itself every ``DASHBOARD_REFRESH``; a warehouse that is down or not set
up yet is shown as such, and the dashboard recovers by itself when it comes back.
"""

from __future__ import annotations

import argparse
import errno
import logging
import socket
import sys
import threading
from datetime import datetime

import uvicorn

from lambda_common.errors import ConfigError
from lambda_common.settings import Settings
from lambda_common.signals import stop_on_signals
from serving_layer.dashboard.app import create_app
from serving_layer.dashboard.monitor import HealthMonitor
from serving_layer.dashboard.reads import WarehouseReads
from serving_layer.params import utc_now
from serving_layer.status_checks import evaluate
from serving_layer.status_facts import Check, Facts
from serving_layer.status_gather import gather

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command takes no options: its settings are DASHBOARD_*."""
    del parser


def address(settings: Settings) -> str:
    """The page's URL."""
    host = settings.dashboard_host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{settings.dashboard_port}/"


def check_port(settings: Settings) -> None:
    """``ConfigError`` naming the setting when the address cannot be listened on (taken
    by another program, or not an address of this machine)."""
    family = socket.AF_INET6 if ":" in settings.dashboard_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.dashboard_host, settings.dashboard_port))
        except OSError as e:
            setting = "DASHBOARD_PORT" if e.errno == errno.EADDRINUSE else "DASHBOARD_HOST"
            raise ConfigError(
                f"invalid setting {setting}: cannot listen on "
                f"{settings.dashboard_host}:{settings.dashboard_port} ({e.strerror})"
            ) from None


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until stopped; 0 on a clean stop."""
    del args
    if settings.log_level != "DEBUG":
        # kafka-python logs every refused connection while it retries; the status
        # panel shows the same as one FAIL line.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    check_port(settings)

    def gatherer(now: datetime) -> tuple[Facts, list[Check]]:
        facts = gather(settings, now)
        return facts, evaluate(facts, settings, now)

    monitor = HealthMonitor(gatherer, settings.dashboard_refresh, utc_now)
    reads = WarehouseReads(settings)
    app = create_app(settings, reads, monitor.latest, utc_now)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.dashboard_host,
            port=settings.dashboard_port,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
    )
    monitor.start()
    sys.stdout.write(
        f"dashboard at {address(settings)} (JSON under /api, Prometheus at /metrics); "
        "Ctrl-C stops it\n"
    )
    sys.stdout.flush()
    try:
        # uvicorn handles SIGTERM/SIGINT itself while it serves, then raises the signal
        # again once it has shut down; here that second delivery is a clean stop (exit 0).
        with stop_on_signals(threading.Event(), "the dashboard has stopped"):
            server.run()
    finally:
        monitor.stop()
        reads.close()
    return 0
