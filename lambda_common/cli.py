"""``python -m lambda_common env|init``: print the effective settings (``make env``), or
create the topic, the bucket and the warehouse tables if missing (``make init``)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from lambda_common.errors import ConfigError, LambdaError
from lambda_common.logs import configure_logging, secret_values
from lambda_common.render import FORMATS
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


def write_output(text: str) -> None:
    """A command's output to stdout; a reader that went away (``| head``) is not an error:
    stdout then points at /dev/null, so the interpreter's final flush does not complain."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def add_subcommands(
    parser: argparse.ArgumentParser, commands: Sequence[tuple[str, ModuleType, str]]
) -> None:
    """One sub-command per ``(name, module, help)``: the module's docstring describes it,
    its ``add_arguments(parser)`` adds its options and its ``run`` becomes ``args.run``."""
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in commands:
        command = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(run=module.run)


def subcommand_main(
    prog: str,
    description: str | None,
    commands: Sequence[tuple[str, ModuleType, str]],
    argv: list[str] | None,
) -> int:
    """A command line of sub-commands (:func:`add_subcommands`), parsed and run
    (:func:`run_subcommand`); returns the exit code (2 bad settings or usage, 1 failure)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_subcommands(parser, commands)
    return run_subcommand(parser.parse_args(argv))


def positive_seconds(text: str) -> float:
    """An option's positive, finite number of seconds (argparse's ``type``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def add_output_options(parser: argparse.ArgumentParser, *, timeout_s: float, what: str) -> None:
    """``--format`` (:data:`lambda_common.render.FORMATS`) and ``--timeout`` (``what``
    the timeout does, and its default) of a command that prints a query's result."""
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=timeout_s,
        metavar="SECONDS",
        help=f"{what} (default: {timeout_s:g})",
    )


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


def run_subcommand(args: argparse.Namespace) -> int:
    """Run the sub-command ``args`` chose (:func:`add_subcommands`): its ``run(settings,
    args)`` returns the exit code; settings and project errors as :func:`run_command`."""
    code = 0

    def body(settings: Settings) -> None:
        nonlocal code
        code = args.run(settings, args)

    return run_command(body) or code


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
