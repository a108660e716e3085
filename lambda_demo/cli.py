"""``python -m lambda_demo`` (``make demo``): the whole pipeline on the local stack."""

from __future__ import annotations

import argparse
import sys

from lambda_common.cli import run_command
from lambda_common.settings import Settings
from lambda_demo import demo


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    parser = argparse.ArgumentParser(prog="python -m lambda_demo", description=demo.__doc__)
    demo.add_arguments(parser)
    args = parser.parse_args(argv)
    code = 0

    def body(settings: Settings) -> None:
        nonlocal code
        code = demo.run(settings, args)

    return run_command(body) or code


if __name__ == "__main__":
    sys.exit(main())
