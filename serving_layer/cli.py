"""``python -m serving_layer query|status|dashboard``: read the serving views, check the
pipeline's health, or serve the web dashboard and its metrics (``make query``,
``make status``, ``make dashboard``)."""

from __future__ import annotations

import argparse
import sys

from lambda_common.cli import add_subcommands, run_subcommand
from serving_layer import query, status
from serving_layer.dashboard import command as dashboard


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per module, each adding its own options."""
    parser = argparse.ArgumentParser(prog="python -m serving_layer", description=__doc__)
    add_subcommands(
        parser,
        [
            ("query", query, "run a named query or read-only SQL against the warehouse"),
            (
                "status",
                status,
                "lag, horizon, freshness, row counts, rejects: OK/WARN/FAIL per check",
            ),
            ("dashboard", dashboard, "the web dashboard and Prometheus /metrics (DASHBOARD_PORT)"),
        ],
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    return run_subcommand(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
