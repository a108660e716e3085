"""``python -m batch_layer once|run``: one batch cycle, or cycles every BATCH_INTERVAL."""

from __future__ import annotations

import argparse
import logging
import sys

from batch_layer.cycle import recompute, run_cycle
from batch_layer.schedule import cycle_lock, run_forever
from lambda_common.errors import ConfigError, LambdaError
from lambda_common.logs import configure_logging
from lambda_common.settings import load_settings

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m batch_layer", description=__doc__)
    parser.add_argument("command", choices=["once", "run", "recompute"], nargs="?", default="once")
    parser.add_argument(
        "--partitions",
        type=lambda text: [int(p) for p in text.split(",") if p.strip()],
        help="only these partitions (e.g. 0,1): run several batch processes on disjoint sets",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        with cycle_lock(settings, args.partitions):
            if args.command == "recompute":
                count = recompute(settings)
                logger.info(
                    "recomputed raw_tweets, load_ledger and batch_view from %d objects", count
                )
            elif args.command == "run":
                run_forever(settings, only_partitions=args.partitions)
            else:
                logger.info("%s", run_cycle(settings, only_partitions=args.partitions).summary())
    except LambdaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
