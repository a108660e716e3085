"""``python -m batch_layer.lake query|verify|ddl``: SQL over the master dataset in S3
(``make lake-query``), every view checked against it by a second engine (``make
verify``), and its Athena/Glue and Redshift Spectrum DDL (``make lake-ddl``)."""

from __future__ import annotations

import sys

from batch_layer.lake import ddl, query, verify
from lambda_common.cli import subcommand_main

COMMANDS = [
    ("query", query, "SQL over master_tweets and master_rejects, in place in S3"),
    ("verify", verify, "every view recomputed from the master dataset, compared"),
    ("ddl", ddl, "the Athena/Glue and Redshift Spectrum DDL of the master dataset"),
]
"""One sub-command per module, each adding its own options."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 bad settings or usage, 1 failure)."""
    return subcommand_main("python -m batch_layer.lake", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
