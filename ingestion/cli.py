"""``python -m ingestion`` (``make run-producer``): produce tweet events to Kafka.

Sources: ``synthetic`` (default, no account needed), ``x`` (live X API v2 filtered stream,
needs ``X_BEARER_TOKEN``), ``replay`` (a JSON-lines file).
"""

from __future__ import annotations

import argparse
import logging
import re
import secrets
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from ingestion.factory import open_producer
from ingestion.parallel import produce_parallel
from ingestion.producer import (
    EventProducer,
    Progress,
    Stats,
    process_started,
    produce,
    startup_s,
)
from ingestion.replay import BadLine, replay_messages
from ingestion.synthetic import SyntheticOptions, SyntheticTweets
from lambda_common.contract import Event, parse_created_at
from lambda_common.contract.wire import WireMessage
from lambda_common.errors import ConfigError, LambdaError
from lambda_common.kafka.broker import ensure_topic
from lambda_common.logs import configure_logging, secret_values
from lambda_common.settings import Settings, load_settings

logger = logging.getLogger(__name__)

_SPAN = re.compile(r"^(\d+)([smhd])$")


def _span(text: str) -> timedelta:
    match = _SPAN.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected a span like 90m, 12h or 7d, got {text!r}")
    value, unit = int(match[1]), match[2]
    return timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[unit]: value})


def _time(text: str) -> datetime:
    try:
        return parse_created_at(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected RFC 3339 with offset, e.g. 2026-11-14T00:00:00Z: {e}"
        ) from None


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("expected a fraction between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__)
    p.add_argument("--source", choices=["synthetic", "x", "replay"], default="synthetic")
    p.add_argument(
        "--count",
        type=int,
        default=None,
        help="events to send; 0 = until stopped "
        "(default: synthetic 1000, replay the whole file, x forever)",
    )
    p.add_argument(
        "--rate", type=float, default=0, help="events per second; 0 = as fast as possible"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="synthetic: random seed (default: random, printed)"
    )
    p.add_argument("--start", type=_time, help="synthetic: backfill window start (RFC 3339)")
    p.add_argument("--end", type=_time, help="synthetic: backfill window end (RFC 3339)")
    p.add_argument(
        "--backfill", type=_span, help="synthetic: window = the last SPAN (e.g. 7d) up to now"
    )
    p.add_argument(
        "--duplicates", type=_fraction, default=0.0, help="synthetic: fraction of re-sent tweet_ids"
    )
    p.add_argument("--late", type=_fraction, default=0.0, help="synthetic: fraction of late events")
    p.add_argument("--file", type=Path, help="replay: the JSON-lines file")
    p.add_argument(
        "--rule", action="append", default=[], help="x: a filtered-stream rule (repeatable)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="synthetic: producer processes (throughput past one core)",
    )
    p.add_argument("--topic", help="override KAFKA_TOPIC")
    return p


def _synthetic(args: argparse.Namespace, seed: int) -> SyntheticTweets:
    start, end = args.start, args.end
    if args.backfill is not None:
        if start is not None or end is not None:
            raise ConfigError("use either --backfill or --start/--end, not both")
        end = datetime.now(UTC)
        start = end - args.backfill
    try:
        options = SyntheticOptions(
            seed=seed,
            count=args.count,
            start=start,
            end=end,
            duplicate_fraction=args.duplicates,
            late_fraction=args.late,
        )
    except ValueError as e:
        raise ConfigError(f"synthetic options: {e}") from None
    return SyntheticTweets(options)


def _replay(path: Path) -> Iterator[WireMessage | Event | BadLine]:
    with path.open("rb") as handle:
        yield from replay_messages(handle)


def _report_bad(item: object) -> None:
    if isinstance(item, BadLine):
        logger.warning("line %d skipped: %s", item.line_number, item.reason)
    else:
        logger.warning("skipped: %s", item)


def _summary(stats: Stats, extra: str = "") -> str:
    # The rate is of sending alone, from the first send to the final flush; what came
    # before (the interpreter, imports, the topic, the client) is start-up, told apart.
    startup = startup_s(stats, process_started())
    before = "" if startup is None else f", start-up {startup:.2f}s before the first send"
    return (
        f"done: sent {stats.sent:,} events in {stats.elapsed:.2f}s "
        f"({stats.sent / stats.elapsed:,.0f}/s{before}), delivered {stats.delivered:,}, "
        f"failed {stats.failed:,}, bad input {stats.bad_input:,}{extra}; {stats.breakdown()}"
    )


def _run_x(
    settings: Settings, args: argparse.Namespace, producer: EventProducer, progress: Progress
) -> None:
    from ingestion.xapi import XReject, XStream

    if settings.x_bearer_token is None:  # checked before connecting; repeated for mypy
        raise ConfigError("SOURCE=x needs X_BEARER_TOKEN")
    stats = producer.stats

    def on_event(event: Event) -> None:
        producer.send(event)
        progress.tick()
        if args.count and stats.sent >= args.count:
            stream.stop()

    def on_bad(reject: XReject) -> None:
        stats.bad_input += 1
        logger.warning("X payload skipped: %s", reject)

    stream = XStream(
        settings.x_bearer_token.get_secret_value(),
        args.rule or ["lang:en has:hashtags"],
        on_event,
        on_bad,
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stream.stop()

    signal.signal(signal.SIGTERM, stop)
    try:
        stream.run()
    except KeyboardInterrupt:
        stream.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 delivery or service failure, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, secret_values(settings))
        if args.source == "x" and settings.x_bearer_token is None:
            raise ConfigError(
                "SOURCE=x needs X_BEARER_TOKEN: set it to an X API v2 bearer token "
                "(filtered-stream access) in the environment or .env"
            )
        if args.source == "replay" and args.file is None:
            raise ConfigError("SOURCE=replay needs FILE=path/to/events.jsonl")
        if args.count is None:
            args.count = 1000 if args.source == "synthetic" else 0
        if args.count < 0:
            raise ConfigError("COUNT must be >= 0")
        if args.workers < 1 or (args.workers > 1 and args.source != "synthetic"):
            raise ConfigError("WORKERS must be >= 1, and > 1 only for the synthetic source")
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        source = _synthetic(args, seed) if args.source == "synthetic" else None
        if args.source == "replay":
            assert args.file is not None
            if not args.file.is_file():
                raise ConfigError(f"replay file not found: {args.file}")
        if args.workers > 1:
            ensure_topic(settings, args.topic)  # fail fast, here, if the broker is down
            producer = None
        else:
            producer = open_producer(settings, args.topic)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except LambdaError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

    if producer is None:
        assert source is not None
        stats, duplicates, late = produce_parallel(
            settings,
            source.options,
            workers=args.workers,
            rate=args.rate,
            topic=args.topic,
            on_progress=lambda sent, elapsed: print(
                f"sent {sent:,} ({sent / elapsed:,.0f}/s)", file=sys.stderr, flush=True
            ),
        )
        extra = f", duplicates {duplicates:,}, late {late:,}, seed {seed}, workers {args.workers}"
        return _finish(stats, extra)
    # A terminal gets a live line every second; a log (a container's, a file) one line
    # every 30 s, so a long-running stream's log stays readable.
    progress = Progress(producer.stats, interval_s=1.0 if sys.stderr.isatty() else 30.0)
    extra = ""
    try:
        if args.source == "synthetic":
            assert source is not None
            produce(source.messages(), producer, rate=args.rate, on_tick=progress.tick)
            extra = f", duplicates {source.duplicates:,}, late {source.late:,}, seed {seed}"
        elif args.source == "replay":
            assert args.file is not None
            events = _replay(args.file)
            limited = events if not args.count else _take_events(events, args.count)
            produce(limited, producer, rate=args.rate, on_tick=progress.tick, on_bad=_report_bad)
        else:
            _run_x(settings, args, producer, progress)
    finally:
        producer.close()
    return _finish(producer.stats, extra)


def _finish(stats: Stats, extra: str) -> int:
    print(_summary(stats, extra), file=sys.stderr)
    if stats.failed:
        print(
            f"error: {stats.failed:,} events were not delivered: {stats.first_error}",
            file=sys.stderr,
        )
        return 1
    return 0


def _take_events(
    items: Iterator[WireMessage | Event | BadLine], count: int
) -> Iterator[WireMessage | Event | BadLine]:
    """Stop after ``count`` events (bad lines do not count towards it)."""
    sent = 0
    for item in items:
        yield item
        if not isinstance(item, BadLine):
            sent += 1
            if sent >= count:
                return


if __name__ == "__main__":
    sys.exit(main())
