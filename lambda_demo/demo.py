"""``make demo``: the whole pipeline on the local stack, in one command.

1. the warehouse schema and the topic, if missing;
2. a few days of synthetic history (only on a fresh pipeline) and one batch cycle over it;
3. the speed job, a live synthetic stream, the scheduled batch layer and the web
   dashboard, each a process of its own, exactly as a user would start them
   (``make speed``, ``make run-producer``, ``make batch``, ``make dashboard``), their logs
   in LOCAL_STACK_DIR/logs; the dashboard's address is printed (it is skipped, with a
   note, when DASHBOARD_PORT is taken, e.g. by the Docker stack's);
4. every few seconds, the top of ``serving_view`` with the layer each row comes from, the
   horizon and the freshness;
5. after ``--duration`` (or Ctrl-C): the stream stops, the batch layer runs one last
   cycle, the speed layer catches up and stops, and the final view is printed; by then
   ``serving_view`` is exact (the contract's guarantee);
6. last, ``make verify`` as a user runs it (``python -m batch_layer.lake verify``), its
   lines printed: every batch view recomputed from the master dataset in S3 by a second
   engine and compared row by row; a FAIL fails the demo.

The stack is left running (``make local-down`` stops it).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from lambda_common.errors import ConfigError
from lambda_common.kafka.broker import end_offsets, ensure_topic
from lambda_common.objectstore import S3ObjectStore
from lambda_common.render import QueryResult, render
from lambda_common.setting_types import parse_duration
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from lambda_demo.checkpoint import speed_committed_up_to
from lambda_demo.jobs import DemoError, Job
from serving_layer.dashboard.command import address, check_port
from serving_layer.execute import run_named

logger = logging.getLogger(__name__)

# Enough history for "a few days" to fill the batch view with ~70 hours x hundreds of
# locations, small enough to produce and land in seconds.
BACKFILL = "3d"
BACKFILL_COUNT = 30_000
SPARK_START_TIMEOUT_S = 300  # first start on two busy cores, jars and all
VERIFY_TIMEOUT_S = 600


OPTIONS: tuple[tuple[str, Callable[[str], Any], Any, str], ...] = (
    ("--duration", parse_duration, 120, "how long the live stream runs: 90, 45s, 2m (default 2m)"),
    ("--rate", float, 50.0, "live events per second (default 50)"),
    (
        "--batch-interval",
        parse_duration,
        30,
        "time between the scheduled batch cycles (default 30s)",
    ),
    ("--refresh", parse_duration, 5, "seconds between views (default 5)"),
    ("--log-dir", Path, None, "the jobs' logs (default LOCAL_STACK_DIR/logs)"),
)
"""The demo's options: flag, type, default, help."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options (all have defaults: ``make demo`` needs none)."""
    for flag, kind, default, text in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when every step went through."""
    demo = Demo(settings, args, out=sys.stdout)
    return demo.run()


class Demo:
    """The demo's steps, in order; ``run`` ties them together."""

    def __init__(self, settings: Settings, args: argparse.Namespace, out: IO[str]) -> None:
        self.settings = settings
        self.args = args
        self.out = out
        self.log_dir: Path = args.log_dir or settings.local_stack_dir / "logs"
        self.stop_requested = threading.Event()
        self.jobs: list[Job] = []
        # The display reads as QUERY_DSN's user, like make query.
        self.reader = Warehouse(settings, role="reader")
        self._remote_wait_until: float | None = None
        # Frames replace each other on a terminal; a log or a pipe gets them all in turn.
        self.redraw = out.isatty() and os.environ.get("TERM", "dumb") != "dumb"

    # -- output -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        """One line of the demo's own narration."""
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, text: str) -> None:
        """A step heading."""
        self.say(f"\n==> {text}")

    # -- processes ----------------------------------------------------------------------

    def job(self, name: str, argv: Sequence[str], **env: str) -> Job:
        """A process of the demo with the demo's environment (plus ``env``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return Job(name, list(argv), {**os.environ, **env}, self.log_dir / f"demo-{name}.log")

    def check_jobs(self) -> None:
        """Raise ``DemoError`` if a long-running job died."""
        for job in self.jobs:
            if not job.alive():
                code = job.process.returncode if job.process else None
                raise DemoError(f"{job.name} stopped unexpectedly (exit {code}){job.tail()}")

    # -- the steps ----------------------------------------------------------------------

    def run(self) -> int:
        """All the steps; Ctrl-C during the live part ends it early, still cleanly."""
        handlers = {
            signal.SIGINT: self._interrupt,
            signal.SIGTERM: self._terminate,
            signal.SIGHUP: self._terminate,
        }
        previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        try:
            self.prepare()
            self.history()
            self.live()
            self.finish()
            self.verify()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.reader.close()
            # Whatever ended the demo, none of its jobs outlives it (a leftover speed job
            # would hold the checkpoint the next run needs).
            for job in self.jobs:
                job.kill()
        return 0

    def _terminate(self, signum: int, _frame: FrameType | None) -> None:
        # SIGTERM, or the terminal closed: no time for a clean stop. Killing the jobs is
        # safe (a killed batch cycle or micro-batch is redone exactly by the next run).
        raise SystemExit(128 + signum)

    def _interrupt(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            # A second Ctrl-C: stop waiting for a clean stop.
            for job in self.jobs:
                job.kill()
            raise KeyboardInterrupt
        self.say("\n(Ctrl-C: stopping cleanly; press it again to kill the jobs)")
        self.stop_requested.set()

    def prepare(self) -> None:
        """Services reachable, bucket, topic and warehouse tables present."""
        self.step("checking the stack and setting up what is missing")
        S3ObjectStore(self.settings).ensure_bucket()
        created = ensure_topic(self.settings)
        with Warehouse(self.settings) as wh:
            wh.ensure_schema()
        self.say(
            f"Kafka topic {self.settings.kafka_topic!r} "
            f"{'created' if created else 'present'}, bucket {self.settings.s3_bucket!r}, "
            f"warehouse tables and serving views ready; job logs in {self.log_dir}/demo-*.log"
        )

    def history(self) -> None:
        """A few days of synthetic history and one batch cycle, on a fresh pipeline."""
        horizon = self.snapshot()["horizon"]
        if horizon is not None:
            self.step(f"history present (batch horizon {horizon:%Y-%m-%d %H:%M}): no backfill")
        else:
            self.step(f"backfilling {BACKFILL_COUNT:,} synthetic tweets over the last {BACKFILL}")
            self.job(
                "backfill",
                [
                    "-m", "ingestion", "--backfill", BACKFILL, "--count", str(BACKFILL_COUNT),
                    "--duplicates", "0.02", "--late", "0.01",
                ],
            ).run(timeout_s=600)  # fmt: skip
        self.step("one batch cycle: Kafka -> S3 -> warehouse -> batch_view -> horizon")
        self._batch_once()
        self.say(self._horizon_line())

    def _batch_once(self) -> None:
        started = time.monotonic()
        self.job("batch-once", ["-m", "batch_layer", "once"]).run(timeout_s=600)
        self.say(f"batch cycle done in {time.monotonic() - started:.1f}s")

    def live(self) -> None:
        """The speed job, the live stream and the scheduled batch; a view every refresh."""
        self.step(
            f"starting the speed layer (Spark Structured Streaming), a live synthetic stream "
            f"at {self.args.rate:g} events/s and a batch cycle every {self.args.batch_interval}s"
        )
        started = datetime.now(UTC).replace(tzinfo=None)
        speed = self.job("speed", ["-m", "speed_layer"])
        producer = self.job(
            "producer",
            [
                "-m", "ingestion", "--count", "0", "--rate", str(self.args.rate),
                "--duplicates", "0.03", "--late", "0.02",
            ],
        )  # fmt: skip
        batch = self.job(
            "batch", ["-m", "batch_layer", "run"], BATCH_INTERVAL=str(self.args.batch_interval)
        )
        for job in (speed, producer, batch):
            job.start()
            self.jobs.append(job)
        self._start_dashboard()
        # Spark writes a micro-batch only when there is new data: the live stream's first
        # events make one as soon as the job is up.
        self._wait_for(
            lambda: self._micro_batch_since(started),
            SPARK_START_TIMEOUT_S,
            "the speed layer's first micro-batch",
        )
        self.say(
            f"speed layer up after {(datetime.now(UTC).replace(tzinfo=None) - started).seconds}s;"
            f" showing the serving view every {self.args.refresh}s for {self.args.duration}s "
            "(Ctrl-C to stop earlier)"
        )
        ends = time.monotonic() + self.args.duration
        while not self.stop_requested.is_set() and time.monotonic() < ends:
            self.stop_requested.wait(min(self.args.refresh, max(ends - time.monotonic(), 0)))
            self.check_jobs()
            self.show()

    def finish(self) -> None:
        """Stop the stream, run a last batch cycle, let the speed layer catch up, stop."""
        by_name = {job.name: job for job in self.jobs}
        self.step("stopping: the stream, then the scheduled batch (after its current cycle)")
        for name, sig in (("producer", signal.SIGINT), ("batch", signal.SIGTERM)):
            code = by_name[name].stop(sig)
            self.jobs.remove(by_name[name])
            if code != 0:
                raise DemoError(f"{name} exited with {code}{by_name[name].tail()}")
        self.step("a last batch cycle, and the speed layer catching up")
        self._batch_once()
        ends = end_offsets(self.settings)
        self._wait_for(lambda: self._speed_read_up_to(ends), 120, "the speed layer catching up")
        code = by_name["speed"].stop(signal.SIGTERM)
        if code != 0:
            raise DemoError(f"speed exited with {code}{by_name['speed'].tail()}")
        if "dashboard" in by_name:
            by_name["dashboard"].stop(signal.SIGTERM)
        self.jobs.clear()
        self.redraw = False  # the last frame stays below the narration
        self.step("final serving view")
        self.show()
        self.say(
            "\nThe stack is still running. Next:\n"
            "  make query                               # the newest rows of serving_view\n"
            "  make query NAME=top_locations HOURS=72   # more named queries: make query LIST=1\n"
            "  make query NAME=top_hashtags             # the hashtags view (serving_hashtags)\n"
            '  make query SQL="SELECT COUNT(*) FROM raw_tweets"\n'
            "  make status                              # lag, horizon, freshness, rejects\n"
            "  make verify                              # the check below, any time\n"
            "  make dashboard                           # the web dashboard again\n"
            "  make local-down                          # stop the stack"
        )

    def verify(self) -> None:
        """``make verify``, its lines shown; a difference (exit 1) or an error fails the demo."""
        self.step(
            "make verify: every batch view recomputed from the master dataset in S3 by a "
            "second engine (DuckDB) and compared row by row"
        )
        verify = self.job("verify", ["-m", "batch_layer.lake", "verify"])
        code, out = verify.capture(VERIFY_TIMEOUT_S)
        self.say(out.rstrip("\n"))
        if code == 1:
            raise DemoError(
                "make verify found a difference (the FAIL lines above name it): make "
                "rebuild-views repairs a batch table, make recompute the raw tables"
            )
        if code != 0:
            raise DemoError(f"verify failed (exit {code}){verify.tail()}")

    # -- reading the pipeline -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``layers_summary`` query's one row, as a dict."""
        result = self._query("layers_summary")
        return dict(zip(result.columns, result.rows[0], strict=True))

    def _query(self, name: str) -> QueryResult:
        # One connection for all the frames (run_named leaves it usable between queries).
        return run_named(self.reader, name)

    def _horizon_line(self) -> str:
        horizon = self.snapshot()["horizon"]
        if horizon is None:
            return "batch horizon: not set yet"
        return (
            f"batch horizon: {horizon:%Y-%m-%d %H:%M} UTC: hours before it come from "
            "batch_view, hours from it on from speed_view"
        )

    def show(self) -> None:
        """One frame: the horizon, freshness, totals per layer, the top rows of each."""
        now = datetime.now(UTC).replace(tzinfo=None)
        s = self.snapshot()
        fresh = "no micro-batch yet"
        if s["newest_event"] is not None and s["last_micro_batch"] is not None:
            fresh = (
                f"newest event {(now - s['newest_event']).total_seconds():.1f}s old, "
                f"last micro-batch {(now - s['last_micro_batch']).total_seconds():.1f}s ago"
            )
        horizon = f"{s['horizon']:%Y-%m-%d %H:%M}" if s["horizon"] else "none"
        if self.redraw:
            self.out.write("\033[H\033[J")  # a terminal: redraw in place, not scroll
        self.say(
            f"\n--- {now:%H:%M:%S} UTC | horizon {horizon} | speed: {fresh}\n"
            f"serving_view: batch {s['batch_tweets'] or 0:,} tweets in {s['batch_rows']:,} rows"
            f" + speed {s['speed_tweets'] or 0:,} tweets in {s['speed_rows']:,} rows"
        )
        self.say(render(self._query("layers"), "table").rstrip("\n"))

    def _start_dashboard(self) -> None:
        """``make dashboard`` beside the jobs, when its port is free."""
        try:
            check_port(self.settings)
        except ConfigError as e:
            self.say(f"no dashboard: {e}")
            return
        dashboard = self.job("dashboard", ["-m", "serving_layer", "dashboard"])
        dashboard.start()
        self.jobs.append(dashboard)
        self.say(
            f"dashboard at {address(self.settings)}: the serving views by layer, the horizon "
            "and the pipeline's health, live (Prometheus metrics at /metrics)"
        )

    def _micro_batch_since(self, since: datetime) -> bool:
        self.check_jobs()
        last = self.snapshot()["last_micro_batch"]
        return last is not None and last >= since

    def _speed_read_up_to(self, ends: dict[int, int]) -> bool:
        """True once Spark has committed a micro-batch reading up to ``ends``.

        Read from the checkpoint's offset log (offsets/N, committed when commits/N
        exists): exact for a local checkpoint. For a remote one (s3a://) the demo waits
        for one more micro-batch instead.
        """
        self.check_jobs()
        checkpoint = self.settings.speed_query_checkpoint
        if "://" in checkpoint and not checkpoint.startswith("file://"):
            if self._remote_wait_until is None:
                self._remote_wait_until = time.monotonic() + 3 * self.settings.speed_trigger + 5
            return time.monotonic() >= self._remote_wait_until
        path = Path(checkpoint.removeprefix("file://"))
        return speed_committed_up_to(path, self.settings.kafka_topic, ends)

    def _wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            if self.stop_requested.wait(1.0):
                return
