"""``python -m serving_layer query|status|dashboard``: read the serving views, check the
pipeline's health, or serve the web dashboard and its metrics (``make query``,
``make status``, ``make dashboard``)."""

from __future__ import annotations

import sys

from lambda_common.cli import subcommand_main
from serving_layer import query, status
from serving_layer.dashboard import command as dashboard

COMMANDS = [
    ("query", query, "run a named query or read-only SQL against the warehouse"),
    ("status", status, "lag, horizon, freshness, row counts, rejects: OK/WARN/FAIL per check"),
    ("dashboard", dashboard, "the web dashboard and Prometheus /metrics (DASHBOARD_PORT)"),
]
"""One sub-command per module, each adding its own options."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    return subcommand_main("python -m serving_layer", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
