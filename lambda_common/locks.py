"""One process at a time: an exclusive, non-blocking lock on a file.

The kernel drops the lock when its process dies, SIGKILL included, so a crashed job never
leaves a stale lock behind to be cleaned up by hand.

Lock files are opened without truncation and without following a symbolic link, so a lock
path that someone else planted (a link to a file of yours, as a ``/tmp`` race would do)
never empties or locks another file; machine-wide locks live in a folder of this user's
own, mode 0700 (``private_lock_dir``), so no other local user can hold them to block a job.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from lambda_common.errors import StackError

logger = logging.getLogger(__name__)


def private_lock_dir() -> Path:
    """This user's lock folder (``$XDG_RUNTIME_DIR/lambda-tweets``, else
    ``<tmp>/lambda-tweets-<uid>``), created 0700; refused unless it is a real folder of
    this user's that nobody else can write to."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    uid = os.getuid()
    folder = (
        Path(runtime) / "lambda-tweets"
        if runtime
        else Path(tempfile.gettempdir()) / f"lambda-tweets-{uid}"
    )
    ensure_private_dir(folder)
    return folder


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` mode 0700 if missing; raise ``StackError`` unless it is a folder
    (not a link) owned by this user and closed to group and others."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as e:
        raise StackError(f"cannot create the private folder {folder}: {e.strerror}") from e
    if not stat.S_ISDIR(info.st_mode):
        raise StackError(f"{folder} must be a folder, not a link or a file: remove it")
    if info.st_uid != os.getuid():
        raise StackError(f"{folder} belongs to another user (uid {info.st_uid}): remove it")
    if info.st_mode & 0o077:
        folder.chmod(0o700)


@contextmanager
def _locked(path: Path, mode: int, on_busy: Callable[[], None]) -> Iterator[None]:
    """Hold ``flock(mode)`` on ``path`` (opened without truncation, without following a
    link) for the block; ``on_busy`` runs when another holder has it, and either raises
    or returns to wait for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise StackError(f"cannot open the lock {path}: {e.strerror}") from e
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            on_busy()
            fcntl.flock(fd, mode)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def exclusive_lock(path: Path, holder: str) -> AbstractContextManager[None]:
    """Hold the lock on ``path`` for the block, or raise ``StackError`` at once if another
    process holds it (``holder`` names that process in the message)."""

    def refuse() -> None:
        raise StackError(f"another {holder} is running (lock {path})")

    return _locked(path, fcntl.LOCK_EX, refuse)


def gate(path: Path, *, exclusive: bool, holder: str) -> AbstractContextManager[None]:
    """A lock many holders may share (``exclusive=False``) or one may hold alone
    (``exclusive=True``), waiting for the other side rather than failing: shared by every
    batch cycle of this machine, held alone by a maintenance command, so either waits for
    the other to finish (logged once, naming ``holder``, when it has to wait)."""

    def wait() -> None:
        logger.info("waiting for the %s to finish (lock %s)", holder, path)

    return _locked(path, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, wait)
