"""Logging set-up shared by every command-line entry point."""

from __future__ import annotations

import logging

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr with timestamps; quiet the chatty vendor loggers."""
    logging.basicConfig(level=level, format=_FORMAT)
    for noisy in ("kafka", "botocore", "boto3", "urllib3", "s3transfer", "py4j"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
