"""``python -m lambda_dryrun`` (``make redshift-sql``): write every SQL statement the
Redshift path runs for make init, one batch cycle and one speed micro-batch, with its
values as placeholders, to stdout or a file. Nothing connects anywhere."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambda_common.cli import run_command
from lambda_common.settings import Settings
from lambda_dryrun.dryrun import PHASES, dry_run
from lambda_dryrun.script import script


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    parser = argparse.ArgumentParser(prog="python -m lambda_dryrun", description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="write the SQL to this file instead of stdout",
    )
    parser.add_argument(
        "--phase",
        choices=PHASES,
        action="append",
        default=None,
        help="only this phase (repeat for several; default: all, in order)",
    )
    args = parser.parse_args(argv)

    def body(settings: Settings) -> None:
        wanted = args.phase or list(PHASES)
        last = max(wanted, key=PHASES.index)  # the phases before it run too, unshown
        phases = [p for p in dry_run(settings, until=last) if p.name in wanted]
        text = script(phases, settings.views)
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text, encoding="utf-8")
            counts = ", ".join(f"{p.name} {len(p.statements)}" for p in phases)
            print(f"wrote {args.out}: statements per phase: {counts}", file=sys.stderr)

    return run_command(body)


if __name__ == "__main__":
    sys.exit(main())
