"""``python -m serving_layer query|status|dashboard``: read the serving views, check the
pipeline's health, or serve the web dashboard and its metrics (``make query``,
``make status``, ``make dashboard``)."""

from __future__ import annotations

import argparse
import sys

from lambda_common.cli import run_command
from lambda_common.settings import Settings
from serving_layer import query, status
from serving_layer.dashboard import command as dashboard


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per module, each adding its own options."""
    parser = argparse.ArgumentParser(prog="python -m serving_layer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in (
        ("query", query, "run a named query or read-only SQL against the warehouse"),
        ("status", status, "lag, horizon, freshness, row counts, rejects: OK/WARN/FAIL per check"),
        ("dashboard", dashboard, "the web dashboard and Prometheus /metrics (DASHBOARD_PORT)"),
    ):
        sub = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    args = build_parser().parse_args(argv)
    code = 0

    def body(settings: Settings) -> None:
        nonlocal code
        code = args.run(settings, args)

    return run_command(body) or code


if __name__ == "__main__":
    sys.exit(main())
