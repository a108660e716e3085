"""The demo's processes: each job of ``make demo`` a process of its own, started as a user
would start it, in a session of its own, its output in its log."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lambda_common.errors import LambdaError

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 120


class DemoError(LambdaError):
    """A process of the demo failed; the message names it and its log."""


@dataclass
class Job:
    """One process of the demo, in a session of its own so that the demo decides when
    and how it stops (a Ctrl-C in the terminal reaches the demo only)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, its output appended to its log."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, *self.argv],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process is not None and self.process.poll() is None

    def run(self, timeout_s: float) -> None:
        """Start the process and wait for it to succeed; ``DemoError`` otherwise."""
        self.start()
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DemoError(f"{self.name} took over {timeout_s:.0f}s{self.tail()}") from None
        if code != 0:
            raise DemoError(f"{self.name} failed (exit {code}){self.tail()}")

    def capture(self, timeout_s: float) -> tuple[int, str]:
        """Run the process to its end: its exit code and its standard output (what it
        logs goes to its log)."""
        with self.log.open("ab") as err:
            try:
                done = subprocess.run(
                    [sys.executable, *self.argv],
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    timeout=timeout_s,
                    check=False,
                    start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                raise DemoError(f"{self.name} took over {timeout_s:.0f}s{self.tail()}") from None
        return done.returncode, done.stdout.decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Ask the process to stop with ``sig``; kill it if it has not within the timeout."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs: killing it", self.name, timeout_s)
            self.kill()
            return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the process's whole group (the speed job's JVM included)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # gone already
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self, lines: int = 15) -> str:
        """The end of the log, for error messages."""
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"; last lines of {self.log}:\n" + "\n".join(f"  {line}" for line in text)
