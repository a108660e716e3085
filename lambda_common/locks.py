"""One process at a time: an exclusive, non-blocking lock on a file.

The kernel drops the lock when its process dies, SIGKILL included, so a crashed job never
leaves a stale lock behind to be cleaned up by hand.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lambda_common.errors import StackError


@contextmanager
def exclusive_lock(path: Path, holder: str) -> Iterator[None]:
    """Hold the lock on ``path`` for the block, or raise ``StackError`` at once if another
    process holds it (``holder`` names that process in the message)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another {holder} is running (lock {path})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
