"""``python -m batch_layer once|run|recompute|rebuild-views|reset|ack-loss``: one batch
cycle, cycles every BATCH_INTERVAL, the rebuild from S3, the batch views rebuilt in full
from the raw tables, and the operator's commands."""

from __future__ import annotations

import argparse
import logging
import sys

from batch_layer.cycle import recompute, run_cycle
from batch_layer.operations import (
    acknowledge_losses,
    losses_preview,
    open_losses,
    rebuild_views,
    recompute_preview,
    reset,
    reset_preview,
)
from batch_layer.plan import PartitionSet
from batch_layer.schedule import cycle_gate, cycle_lock, maintenance_gate, run_forever
from lambda_common.cli import confirm, run_command
from lambda_common.settings import Settings

logger = logging.getLogger(__name__)

MAINTENANCE = ("recompute", "rebuild-views", "reset", "ack-loss")
COMMANDS = ("once", "run", *MAINTENANCE)


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
        help=("recompute, reset, ack-loss: go on without asking (for scripts; YES=1 with make)"),
    )
    args = parser.parse_args(argv)

    def command(settings: Settings) -> None:
        partitions = PartitionSet.parse(args.partitions)
        if args.command in MAINTENANCE:
            maintain(settings, args.command, yes=args.yes)
            return
        with cycle_lock(settings, partitions):
            if args.command == "run":
                run_forever(settings, only_partitions=partitions)
            else:
                with cycle_gate(settings):
                    logger.info("%s", run_cycle(settings, only_partitions=partitions).summary())

    return run_command(command)


def maintain(settings: Settings, command: str, *, yes: bool) -> None:
    """A maintenance command: what it will change shown and confirmed first (a
    destructive one), then run holding the maintenance gate, so it waits for this
    machine's cycles in progress (of every partition set) and holds off their next ones.
    It takes no batch process's lock: it runs beside ``make batch`` (and inside the batch
    container with ``docker compose exec batch``)."""
    if command == "recompute":
        confirm(recompute_preview(settings), yes=yes)
    elif command == "reset":
        confirm(reset_preview(settings), yes=yes)
    elif command == "ack-loss":
        losses = open_losses(settings)
        if not losses:
            logger.info("no open offset losses of %s to acknowledge", settings.kafka_topic)
            return
        confirm(losses_preview(settings.kafka_topic, losses), yes=yes)
    with maintenance_gate(settings):
        if command == "recompute":
            count = recompute(settings)
            logger.info(
                "recomputed raw_tweets, load_ledger and every batch view from %d objects", count
            )
        elif command == "rebuild-views":
            rebuild_views(settings)
        elif command == "reset":
            reset(settings)
        else:
            acknowledge_losses(settings, losses)


if __name__ == "__main__":
    sys.exit(main())
