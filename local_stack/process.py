"""Processes and ports of the local stack: whether a port is free, whether a pid is still
our program, starting a program detached and stopping it."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from lambda_common.errors import StackError
from lambda_common.settings import HostPort

logger = logging.getLogger(__name__)


def resolve_host(host: str) -> str:
    """The address to connect to or bind for a host name of a setting."""
    return "127.0.0.1" if host in ("localhost", "0.0.0.0") else host  # noqa: S104


def port_in_use(address: HostPort) -> bool:
    """True when something else already holds the port (we cannot bind it)."""
    host = resolve_host(address.host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: a port in TIME_WAIT from our own last run is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, address.port))
        except OSError:
            return True
    return False


def free_ports(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of ``count`` consecutive ports of ``host`` that are free now (a worker's
    web UI takes the port after the one before it): a port the system hands out, checked
    with the ``count - 1`` after it. ``StackError`` when no such run is found."""
    for _ in range(attempts):
        with socket.socket() as s:
            s.bind((host, 0))
            first = int(s.getsockname()[1])
        if first + count <= 65536 and not any(
            port_in_use(HostPort(host, p)) for p in range(first, first + count)
        ):
            return first
    raise StackError(f"found no {count} consecutive free ports on {host}")


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, if given, its command line holds ``marker``.

    The marker guards against pid reuse after a reboot or a crash.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user (postgres when we are root)
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if marker is not None:
            cmdline = (proc / "cmdline").read_bytes()
            # Empty while the process is between fork and exec (nohup exec-ing java):
            # it exists and is not a zombie, so it is alive.
            return not cmdline or marker in cmdline.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return proc.exists()
    return True


def spawn_detached(argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start ``argv`` in the background, detached from us; return its pid.

    A short-lived ``sh`` forks the program and exits, so the program is reparented to init
    and never becomes our zombie; ``start_new_session`` keeps terminal signals away.
    """
    script = 'nohup "$@" >>"$LAMBDA_LOG" 2>&1 </dev/null & echo $!'
    full_env = dict(os.environ if env is None else env)
    full_env["LAMBDA_LOG"] = str(log)
    out = subprocess.run(
        ["sh", "-c", script, "sh", *argv],
        capture_output=True,
        text=True,
        check=True,
        env=full_env,
        start_new_session=True,
    )
    return int(out.stdout.strip())


def stop_pid(pid: int, marker: str | None, timeout_s: float = 30.0) -> None:
    """SIGTERM, wait up to ``timeout_s`` for a clean exit, then SIGKILL."""
    stop_pids([(pid, marker)], timeout_s)


def stop_pids(
    targets: Sequence[tuple[int, str | None]],
    timeout_s: float = 30.0,
    *,
    last_grace_s: float | None = None,
) -> None:
    """``stop_pid`` for several processes at once: all are signalled before any is waited
    for. With ``last_grace_s``, the last one left running after the others have exited
    gets only that long before SIGKILL (a Kafka node whose clean shutdown waits for a
    controller quorum that left with the others would wait until ``timeout_s``)."""
    alive = [(pid, marker) for pid, marker in targets if pid_alive(pid, marker)]
    for pid, _ in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    alone_since: float | None = None
    while alive and time.monotonic() < deadline:
        alive = [(pid, marker) for pid, marker in alive if pid_alive(pid, marker)]
        if len(alive) == 1 < len(targets) and last_grace_s is not None:
            alone_since = alone_since or time.monotonic()
            if time.monotonic() - alone_since >= last_grace_s:
                logger.info(
                    "pid %s still shutting down %.0fs after the others exited: killing it",
                    alive[0][0],
                    last_grace_s,
                )
                break
        if alive:
            time.sleep(0.2)
    for pid, _ in alive:
        if alone_since is None:
            logger.warning("pid %s did not stop within %ss: killing it", pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log, on one line (for an error message)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])
