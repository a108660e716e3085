"""``python -m batch_layer once|run``: one batch cycle, or cycles every BATCH_INTERVAL."""

from __future__ import annotations

import argparse
import logging
import sys

from batch_layer.cycle import recompute, run_cycle
from batch_layer.schedule import cycle_lock, run_forever
from lambda_common.cli import run_command
from lambda_common.settings import Settings

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

    def command(settings: Settings) -> None:
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

    return run_command(command)


if __name__ == "__main__":
    sys.exit(main())
