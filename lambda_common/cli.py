"""``python -m lambda_common env``: print the effective settings (``make env``)."""

from __future__ import annotations

import argparse
import sys

from lambda_common.errors import ConfigError
from lambda_common.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="lambda-env", description=__doc__)
    parser.add_argument("command", choices=["env"], nargs="?", default="env")
    parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for key, value in settings.describe():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
