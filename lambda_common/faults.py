"""Crash injection for the exactly-once tests: ``LAMBDA_FAILPOINT=<name>`` kills the
process with SIGKILL when it reaches the point of that name. Unset, it costs one lookup."""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)


def failpoint(name: str) -> None:
    """Die here (SIGKILL, no cleanup at all) when ``LAMBDA_FAILPOINT`` names this point."""
    if os.environ.get("LAMBDA_FAILPOINT") == name:
        logger.warning("failpoint %s: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)
