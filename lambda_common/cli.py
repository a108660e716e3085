"""``python -m lambda_common env|init``: print the effective settings (``make env``), or
create the topic, the bucket and the warehouse tables if missing (``make init``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from lambda_common.errors import ConfigError, LambdaError
from lambda_common.logs import configure_logging, secret_values
from lambda_common.settings import Settings, load_settings


class NotConfirmed(LambdaError):
    """A destructive command was not confirmed."""


def confirm(what: str, *, yes: bool, flag: str = "--yes (YES=1 with make)") -> None:
    """Ask on a terminal before a destructive step; ``yes`` skips the question.

    Without a terminal (a script, CI, ``docker compose exec -T``) and without ``yes`` the
    command is refused with one line: it never goes ahead unasked.
    """
    if yes:
        return
    print(what, file=sys.stderr)
    if not sys.stdin.isatty():
        raise NotConfirmed(f"not confirmed (no terminal): nothing was changed; pass {flag}")
    answer = input("type yes to go on: ").strip().lower()
    if answer != "yes":
        raise NotConfirmed("not confirmed: nothing was changed")


def run_command(body: Callable[[Settings], None]) -> int:
    """The start-up every command line of the pipeline shares; returns the exit code.

    Settings are loaded and checked first (a bad one: one line naming it, exit 2), then
    logging is set up and ``body`` runs; a project error ends it with one line, exit 1.
    """
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, secret_values(settings))
    try:
        body(settings)
    except LambdaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="lambda-env", description=__doc__)
    parser.add_argument("command", choices=["env", "init"], nargs="?", default="env")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="init: seconds to keep retrying a service that is not reachable yet (default 60)",
    )
    args = parser.parse_args(argv)

    def show(settings: Settings) -> None:
        for key, value in settings.describe():
            print(f"{key}={value}")

    def init(settings: Settings) -> None:
        from lambda_common.provision import provision

        for line in provision(settings, timeout_s=args.timeout):
            print(line, flush=True)

    return run_command(init if args.command == "init" else show)


if __name__ == "__main__":
    sys.exit(main())
