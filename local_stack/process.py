"""Processes and ports of the local stack: whether a port is free, which ports a new
service may take, whether a pid is still our program, starting a program detached and
stopping it."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from lambda_common.errors import StackError
from lambda_common.setting_types import HostPort

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


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Linux's default, for a system whose range cannot be read (not Linux, no /proc).
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# Below this sit the well-known defaults (PostgreSQL 5432, Spark 7077/8080, Kafka 9092, ...)
# that a developer's own stack may take later, so a picked port stays above it when the
# ephemeral range leaves room.
SERVICE_PORT_FLOOR = 20000
# Ports handed out by ``free_ports`` in this process, newest last: the caller binds them
# later (a node not started yet), so a second call must not pick them again; bounded, as
# a long-lived process has long started (or dropped) what it asked ports for.
_HANDED_OUT: deque[int] = deque(maxlen=4096)
_HANDED_OUT_LOCK = threading.Lock()


def parse_port_range(text: str) -> tuple[int, int]:
    """The ``low high`` pair of ``ip_local_port_range``'s text; ``ValueError`` when it
    is not two ports in order."""
    fields = text.split()
    if len(fields) != 2:
        raise ValueError(f"expected two ports, got {text!r}")
    low, high = int(fields[0]), int(fields[1])
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"not a port range: {low}-{high}")
    return low, high


def ephemeral_range(path: Path = EPHEMERAL_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range, first and last port included: where it picks
    the source port of an outgoing connection (and the port of a ``bind`` to port 0).
    Linux's default when ``path`` cannot be read or parsed."""
    try:
        return parse_port_range(path.read_text())
    except (OSError, ValueError) as exc:
        logger.debug(
            "ephemeral port range unknown (%s): assuming %s-%s", exc, *DEFAULT_EPHEMERAL_RANGE
        )
        return DEFAULT_EPHEMERAL_RANGE


def first_port_choices(count: int, ephemeral: tuple[int, int]) -> list[range]:
    """Where a run of ``count`` consecutive service ports may start so that no port of it
    is in ``ephemeral`` (first and last port included): below the range (from
    ``SERVICE_PORT_FLOOR``, or 1024 when the range starts lower) and above it. Empty
    ranges are left out."""
    low, high = ephemeral
    floor = SERVICE_PORT_FLOOR if low > SERVICE_PORT_FLOOR else 1024
    choices = [range(floor, low - count + 1), range(high + 1, 65536 - count + 1)]
    return [r for r in choices if len(r) > 0]


def _nth(choices: list[range], index: int) -> int:
    """The ``index``-th port of ``choices`` taken one after the other."""
    for r in choices:
        if index < len(r):
            return r[index]
        index -= len(r)
    raise IndexError(f"{index} beyond the choices {choices}")


def free_ports(count: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """The first of ``count`` consecutive ports of ``host`` that are free now (a worker's
    web UI takes the port after the one before it). ``StackError`` when no such run is
    found.

    The run lies outside the kernel's ephemeral range: a port from it (what binding port
    0 gives) may meanwhile become the source port of an outgoing connection, above all of
    a peer dialling it before its own node listens (a Kafka node then connects to itself
    and stops, or a restarted node finds its port in use). A port this process handed out
    lately is not handed out again: its caller may not have bound it yet."""
    ephemeral = ephemeral_range()
    choices = first_port_choices(count, ephemeral)
    total = sum(len(r) for r in choices)
    if total == 0:
        raise StackError(
            f"no room for {count} consecutive ports outside the kernel's ephemeral range "
            f"{ephemeral[0]}-{ephemeral[1]} ({EPHEMERAL_RANGE_FILE})"
        )
    with _HANDED_OUT_LOCK:
        for _ in range(attempts):
            # A random pick, not the lowest free run: several test sessions choosing at
            # once then rarely choose the same run.
            first = _nth(choices, secrets.randbelow(total))
            run = range(first, first + count)
            if any(p in _HANDED_OUT for p in run):
                continue
            if not any(port_in_use(HostPort(host, p)) for p in run):
                _HANDED_OUT.extend(run)
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
