"""``python -m lambda_monitoring up|down|status`` (make monitoring-up/-down/-status): the
project's Prometheus on 127.0.0.1:PROMETHEUS_PORT; ``rules [--out FILE]`` (make
monitoring-rules): the alert rules for these settings, for a Prometheus of your own;
``config --out DIR --target HOST:PORT``: a Prometheus configuration and the rules in one
folder (the Compose stack's); ``files``: monitoring/alerts.yml (the defaults' rules) and
monitoring/grafana-dashboard.json written again from code (make monitoring-files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambda_common.cli import run_command
from lambda_common.settings import Settings
from lambda_monitoring.prometheus import Monitoring, write_files
from lambda_monitoring.rules import Thresholds, render_rules

# Where ``files`` writes, relative to the repository (the current folder under make).
SHIPPED_RULES = Path("monitoring/alerts.yml")
SHIPPED_DASHBOARD = Path("monitoring/grafana-dashboard.json")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    parser = argparse.ArgumentParser(prog="python -m lambda_monitoring", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "rules", "config", "files"])
    parser.add_argument("--out", type=Path, help="rules: a file (else stdout); config: a folder")
    parser.add_argument("--target", help="config: the dashboard's host:port to scrape")
    args = parser.parse_args(argv)
    if args.command == "config" and (args.out is None or not args.target):
        parser.error("config needs --out DIR and --target HOST:PORT")
    code = 0

    def body(settings: Settings) -> None:
        nonlocal code
        code = _run(args, settings)

    return run_command(body) or code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "rules":
        text = render_rules(Thresholds.of(settings))
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text)
            print(f"alert rules for these settings written to {args.out}")
        return 0
    if args.command == "config":
        config = write_files(args.out, settings, args.target)
        print(f"Prometheus configuration {config} and its rules, scraping {args.target}")
        return 0
    if args.command == "files":
        SHIPPED_RULES.write_text(render_rules(Thresholds.defaults()))
        print(f"{SHIPPED_RULES} written (the rules for the default settings)")
        # Only here: the builder library is a development dependency.
        from lambda_monitoring.grafana import render_dashboard

        SHIPPED_DASHBOARD.write_text(render_dashboard())
        print(f"{SHIPPED_DASHBOARD} written")
        return 0
    monitoring = Monitoring(settings)
    if args.command == "up":
        for line in monitoring.up():
            print(line)
        print(f"alerts: {monitoring.prometheus.url}/alerts (API: /api/v1/alerts)")
        return 0
    if args.command == "down":
        for line in monitoring.down():
            print(line)
        return 0
    healthy = True
    for st in monitoring.status():
        state = "healthy" if st.healthy else ("stopped" if st.pid is None else "UNHEALTHY")
        print(f"{st.name:<10} {state:<10} pid {st.pid or '-'!s:<8} {st.detail}  (log: {st.log})")
        healthy &= st.healthy
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
