"""``python -m local_stack serve NAME``: one service of the local stack in the foreground.

This is how the Docker Compose stack runs its infrastructure: each container's main
program is the local stack's own launch code (the same configuration, storage format and
first-start set-up as ``make local-up``), with the program in the foreground instead of
detached, listening on the container's interfaces. The supervisor here

- starts the program as its child, with the output going to the container's log;
- once the program answers, runs the one-time set-up that needs it running (the
  pipeline's database role, the bucket);
- then probes it every few seconds and keeps a health file fresh while it answers, which
  is what the container's healthcheck reads (a file test costs nothing; the probe itself
  needs the Python clients, loaded once here);
- forwards a stop signal as the program's own clean and prompt shutdown, and exits with
  the program's status, so the container's restart policy sees what the program did.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import psycopg2

from lambda_common.errors import LambdaError
from local_stack.service import Service

logger = logging.getLogger(__name__)

PROBE_INTERVAL_S = 5.0
START_PROBE_INTERVAL_S = 0.5


def health_file(name: str) -> Path:
    """The file ``serve`` touches while the service answers (the healthcheck's input).

    In the container's own temporary folder, so a new container never sees an old one's.
    """
    return Path(tempfile.gettempdir()) / f"lambda-{name}.healthy"


def _answers(service: Service) -> str | None:
    """None when the service answers its probe, else why not (one line)."""
    try:
        service.probe()
    except (LambdaError, OSError, psycopg2.Error) as e:
        return str(e).splitlines()[0][:200] if str(e) else type(e).__name__
    return None


def _supervise(
    service: Service, child: subprocess.Popen[bytes], marker: Path, stopping: Callable[[], bool]
) -> None:
    """Probe the running program until it exits; run its set-up once it first answers."""
    ready = lost = False
    while child.poll() is None:
        if stopping():
            marker.unlink(missing_ok=True)
        elif (problem := _answers(service)) is None:
            if not ready:
                service.after_healthy()
                ready = True
                logger.info("%s ready", service.name)
            elif lost:
                logger.info("%s answers again", service.name)
            lost = False
            marker.touch()
        elif ready and not lost:
            lost = True
            marker.unlink(missing_ok=True)
            logger.warning("%s stopped answering: %s", service.name, problem)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=PROBE_INTERVAL_S if ready else START_PROBE_INTERVAL_S)


def serve(service: Service) -> int:
    """Run ``service`` in the foreground until it exits; return its exit status."""
    marker = health_file(service.name)
    marker.unlink(missing_ok=True)
    argv = service.foreground_command()
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            logger.info(
                "%s received: stopping %s (%s)",
                signal.Signals(signum).name,
                service.name,
                service.stop_signal.name,
            )
        stopping = True
        if child is not None:
            child.send_signal(service.stop_signal)

    # Handlers first, then the program: a handled signal starts out at its default in the
    # program, but one this process inherited as ignored (a parent started it in the
    # background) would stay ignored there, and the forwarded stop signal would be lost.
    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        logger.info("starting %s in the foreground", service.name)
        child = subprocess.Popen(argv)  # our own launch command, no shell
        if stopping:  # the stop came while it was being started
            child.send_signal(service.stop_signal)
        _supervise(service, child, marker, lambda: stopping)
    except BaseException:
        # The set-up failed (or we were interrupted): never leave the program orphaned.
        if child is not None:
            child.send_signal(service.stop_signal)
            child.wait()
        raise
    finally:
        marker.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    code = child.returncode
    logger.log(
        logging.INFO if stopping else logging.ERROR,
        "%s exited with status %s",
        service.name,
        code,
    )
    # A program killed by a signal: report it as a shell would (128 + signal).
    return 128 - code if code < 0 else code
