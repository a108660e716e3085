"""TODO: status (being written)."""

from __future__ import annotations

import argparse

from lambda_common.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-command's options."""


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the sub-command; returns its exit code."""
    raise NotImplementedError
