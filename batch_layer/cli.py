"""``python -m batch_layer once|run|recompute|rebuild-views|reset|ack-loss``: one batch
cycle, cycles every BATCH_INTERVAL, the rebuild from S3, the batch views rebuilt in full
from the raw tables, and the operator's commands."""

from __future__ import annotations

import argparse
import logging
import sys

from batch_layer.cycle import recompute, run_cycle
from batch_layer.operations import acknowledge_losses, rebuild_views, recompute_preview, reset
from batch_layer.plan import PartitionSet
from batch_layer.schedule import cycle_lock, run_forever
from lambda_common.cli import confirm, run_command
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

COMMANDS = ("once", "run", "recompute", "rebuild-views", "reset", "ack-loss")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m batch_layer", description=__doc__)
    parser.add_argument("command", choices=COMMANDS, nargs="?", default="once")
    parser.add_argument(
        "--partitions",
        default="",
        help=(
            "only these partitions, to run several batch processes: a list (0,1) or i/n "
            "(0/2: every partition p with p %% 2 == 0, so partitions added later get an "
            "owner too)"
        ),
    )
    parser.add_argument(
        "--yes",
        action="store_true",
        help="recompute: go on without asking (for scripts; make recompute YES=1)",
    )
    args = parser.parse_args(argv)

    def command(settings: Settings) -> None:
        partitions = PartitionSet.parse(args.partitions)
        with cycle_lock(settings, partitions):
            if args.command == "recompute":
                confirm(recompute_preview(settings), yes=args.yes)
                count = recompute(settings)
                logger.info(
                    "recomputed raw_tweets, load_ledger and batch_view from %d objects", count
                )
            elif args.command == "rebuild-views":
                rebuild_views(settings)
            elif args.command == "reset":
                reset(settings)
            elif args.command == "ack-loss":
                acknowledge_losses(settings)
            elif args.command == "run":
                run_forever(settings, only_partitions=partitions)
            else:
                logger.info("%s", run_cycle(settings, only_partitions=partitions).summary())

    return run_command(command)


if __name__ == "__main__":
    sys.exit(main())
