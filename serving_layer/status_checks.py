"""``make status``'s judgement: :func:`evaluate` turns the gathered facts into one
:class:`~serving_layer.status_facts.Check` per report line, OK, WARN or FAIL.

A pure function of the facts, the settings and the clock: no I/O, so every threshold and
every line's wording is unit-tested with crafted facts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lambda_common.durations import two_units
from lambda_common.settings import Settings
from serving_layer.status_facts import (
    COUNTED,
    Check,
    Facts,
    KafkaFacts,
    Level,
    LossFacts,
    PartitionFacts,
    SpeedBatchFacts,
    VerifyFacts,
    ViewFacts,
    WarehouseFacts,
    relations,
)

# Above this share of rejected messages (of all messages read) the rejects check WARNs:
# a few malformed messages are normal, this many suggest a broken producer.
REJECT_WARN_RATIO = 0.05

# The batch horizon is hour-aligned and set to floor_hour(cycle_start - ALLOWED_LATENESS),
# so right after a cycle it is up to 1 h + ALLOWED_LATENESS old, and it ages by
# BATCH_INTERVAL (plus the cycle's own duration) until the next cycle. It is OK while
# its age is within ALLOWED_LATENESS + 1 h + 2 * BATCH_INTERVAL (one interval of slack
# for a slow or failed cycle), WARN beyond (the batch layer is not running on schedule),
# and FAIL when a further day has passed without any cycle.
HORIZON_SLACK = timedelta(hours=1)
HORIZON_FAIL_AFTER = timedelta(days=1)

# The speed layer records one row in speed_batches per micro-batch, but Spark runs a
# micro-batch only when new messages arrived: a healthy job on an idle topic writes
# nothing. So its last micro-batch is OK when newer than max(2 min, 10 * SPEED_TRIGGER);
# older is OK too when Kafka holds no message newer than that micro-batch (idle), and
# WARN when it does (the job is stopped or stuck while events wait). After a message
# arrives on an idle topic the check may WARN for one trigger, until the job picks it up.
# It FAILs when events have been waiting and the last micro-batch is over a day old: the
# serving view then lacks everything after the batch horizon, and nobody noticed.
SPEED_FRESH_MIN = timedelta(minutes=2)
SPEED_FRESH_TRIGGERS = 10
SPEED_FAIL_AFTER = timedelta(days=1)

# At most this many unacknowledged offset losses get a report line each; the rest are
# counted in one more line (a retention problem can record one loss per cycle).
LOSS_LINES = 10

NOT_SET_UP = "pipeline not set up yet (run make batch-once or make demo)"
ACK_LOSS = "acknowledge with make batch-ack-loss"


def evaluate(facts: Facts, settings: Settings, now: datetime) -> list[Check]:
    """Judge the facts: one :class:`Check` per line of the report, in report order.

    ``now`` is the wall clock (naive UTC, like every warehouse timestamp, or aware).
    Pure: no I/O, so every threshold is unit-tested with crafted facts.
    """
    now = naive_utc(now)
    checks = _kafka_checks(facts.kafka, facts.warehouse)
    s3 = facts.s3
    if s3.error is not None:
        checks.append(Check(Level.FAIL, "s3", s3.error))
    else:
        checks.append(Check(Level.OK, "s3", f"s3://{s3.bucket} reachable at {s3.endpoint}"))
    checks += _warehouse_checks(facts, settings, now)
    return checks


# Kafka --------------------------------------------------------------------------------


def _kafka_checks(k: KafkaFacts, w: WarehouseFacts) -> list[Check]:
    if k.error is not None:
        return [Check(Level.FAIL, "kafka", k.error)]
    checks = [Check(Level.OK, "kafka", f"{k.brokers} broker(s) at {k.servers}")]
    if not k.topic_exists:
        checks.append(
            Check(
                Level.FAIL,
                "kafka.topic",
                f"topic {k.topic!r} does not exist (start a producer: make run-producer)",
            )
        )
        return checks
    if k.offsets_error is not None:
        checks.append(Check(Level.FAIL, "kafka.topic", f"{k.topic}: {k.offsets_error}"))
        checks += _topic_id_checks(k, w)
        return checks
    messages = sum(p.end - p.beginning for p in k.partitions)
    stamps = [p.newest_at for p in k.partitions if p.newest_at is not None]
    newest = f", newest produced {max(stamps):%Y-%m-%d %H:%M:%S}" if stamps else ""
    checks.append(
        Check(
            Level.OK,
            "kafka.topic",
            f"{k.topic}: {len(k.partitions)} partitions, {messages:,} messages{newest}",
        )
    )
    checks += _topic_id_checks(k, w)
    checks += [_partition_check(p) for p in k.partitions]
    return checks


def _topic_id_checks(k: KafkaFacts, w: WarehouseFacts) -> list[Check]:
    """``kafka.topic_id``: is the topic in Kafka the incarnation the batch layer reads?

    Nothing when the warehouse cannot tell (unreachable, not set up) or the batch layer
    has not registered the topic yet (its first cycle registers Kafka's id).
    """
    name = "kafka.topic_id"
    known = w.incarnation
    if w.error is not None or w.missing or known is None:
        return []
    if k.topic_id is None:
        return [
            Check(
                Level.OK,
                name,
                f"Kafka reports no topic id (a broker before 2.8): cannot tell whether "
                f"{k.topic} was re-created; the batch layer reads generation {known.generation}",
            )
        ]
    if k.topic_id != known.topic_id:
        # The batch layer refuses to run (TopicChanged) until an operator resets it.
        return [
            Check(
                Level.FAIL,
                name,
                f"topic {k.topic} was deleted and re-created (Kafka's id {k.topic_id}, the "
                f"batch layer read {known.topic_id}): the batch layer stops until "
                "make batch-reset",
            )
        ]
    return [
        Check(
            Level.OK,
            name,
            f"{k.topic} is the incarnation the batch layer reads (id {known.topic_id}, "
            f"generation {known.generation})",
        )
    ]


def _partition_check(p: PartitionFacts) -> Check:
    name = f"kafka.partition.{p.partition}"
    if p.committed is None:
        # The batch layer commits a partition's offsets once it has landed something
        # from it; an empty partition has nothing to land, so no commit is fine there.
        detail = f"end {p.end:,} committed - lag {p.lag:,}"
        if p.lag == 0:
            return Check(Level.OK, name, detail)
        return Check(Level.WARN, name, f"{detail}: no batch cycle yet")
    detail = f"end {p.end:,} committed {p.committed:,} lag {p.lag:,}"
    if p.committed < p.beginning:
        # Kafka's retention deleted messages the batch layer had not landed: lost.
        return Check(
            Level.FAIL,
            name,
            f"{detail}: messages from {p.committed:,} to {p.beginning - 1:,} expired "
            "before the batch layer landed them",
        )
    if p.committed > p.end:
        # The batch layer would wait for offsets that never come (topic re-created?).
        return Check(Level.FAIL, name, f"{detail}: committed offset is past the end")
    return Check(Level.OK, name, detail)


# The warehouse ----------------------------------------------------------------------


def _warehouse_checks(facts: Facts, settings: Settings, now: datetime) -> list[Check]:
    w = facts.warehouse
    if w.error is not None:
        return [Check(Level.FAIL, "warehouse", w.error)]
    checks = [Check(Level.OK, "warehouse", f"{w.dialect} at {w.where}")]
    if w.missing:
        # Only a partial schema is worth listing (an older version, a dropped table).
        partial = len(w.missing) < len(relations(settings.views))
        detail = f"{NOT_SET_UP}; missing {', '.join(w.missing)}" if partial else NOT_SET_UP
        checks.append(Check(Level.WARN, "warehouse.schema", detail))
        return checks
    checks.append(_horizon_check(w.horizon, settings, now))
    checks += _partition_owner_checks(facts.kafka, w)
    checks += _loss_checks(w)
    checks.append(
        _rejects_check("batch.rejects", w.ledger_rejects, w.ledger_events + w.ledger_rejects, "")
    )
    checks.append(_verify_check(w.last_verify, now))
    checks.append(_speed_check(w.last_speed_batch, facts.kafka, settings, now))
    if w.max_event_time is None:
        checks.append(Check(Level.OK, "speed.freshness", "no event seen by the speed layer yet"))
    else:
        checks.append(
            Check(
                Level.OK,
                "speed.freshness",
                f"newest event {w.max_event_time:%Y-%m-%d %H:%M:%S} "
                f"({_relative(now - w.max_event_time)})",
            )
        )
    checks.append(
        _rejects_check("speed.rejects", w.speed_rejects_day, w.speed_input_day, " in the last day")
    )
    for table in COUNTED:
        checks.append(Check(Level.OK, f"rows.{table}", f"{w.counts.get(table, 0):,}"))
    for view in w.views:
        checks += _view_checks(view)
    return checks


def _view_checks(f: ViewFacts) -> list[Check]:
    """One view's lines: its tables' rows, what its serving view serves, and
    ``serving.integrity.<view>``: no key served by both layers (or twice by one)."""
    v = f.view
    served = f"{_plural(f.serving_rows, 'row')}, {_plural(f.serving_tweets, 'tweet')}"
    checks = [
        Check(Level.OK, f"rows.{v.batch_table}", f"{f.batch_rows:,}"),
        Check(Level.OK, f"rows.{v.speed_table}", f"{f.speed_rows:,}"),
        Check(Level.OK, f"rows.{v.serving_view}", served),
    ]
    name = f"serving.integrity.{v.name}"
    key = "(hour, " + ", ".join(k.name for k in v.keys) + ")"
    if f.duplicates:
        # The serving view's one promise: no key counted by both layers.
        checks.append(
            Check(
                Level.FAIL,
                name,
                f"{f.duplicates:,} {key} groups served more than once by {v.serving_view}",
            )
        )
    else:
        checks.append(Check(Level.OK, name, f"no {key} served twice by {v.serving_view}"))
    return checks


def _horizon_check(horizon: datetime | None, settings: Settings, now: datetime) -> Check:
    name = "batch.horizon"
    if horizon is None:
        return Check(Level.WARN, name, "no batch cycle yet (make batch-once, or make batch)")
    age = now - horizon
    limit = (
        timedelta(seconds=settings.allowed_lateness)
        + HORIZON_SLACK
        + 2 * timedelta(seconds=settings.batch_interval)
    )
    detail = f"{horizon:%Y-%m-%d %H:%M} ({_duration(age)} old, limit {_duration(limit)})"
    if age < timedelta(0):
        return Check(Level.WARN, name, f"{horizon:%Y-%m-%d %H:%M} is in the future: clock skew?")
    if age > limit + HORIZON_FAIL_AFTER:
        return Check(Level.FAIL, name, f"{detail}: no batch cycle for over a day")
    if age > limit:
        return Check(Level.WARN, name, f"{detail}: is the batch layer running? (make batch)")
    return Check(Level.OK, name, detail)


def _verify_check(run: VerifyFacts | None, now: datetime) -> Check:
    """The topic's last ``make verify``: it stays FAILed after a repair until verify runs
    again, since only verify can say the views are exact again."""
    name = "batch.verify"
    if run is None:
        return Check(Level.OK, name, "no make verify run yet")
    when = f"{run.finished_at:%Y-%m-%d %H:%M:%S} ({_relative(now - run.finished_at)})"
    if not run.ok:
        return Check(Level.FAIL, name, f"{when}: {run.failed}")
    return Check(
        Level.OK,
        name,
        f"{when}: {run.views} views, {run.rows:,} rows and {run.events:,} events exact "
        f"in {run.duration_s:.1f}s",
    )


def _partition_owner_checks(k: KafkaFacts, w: WarehouseFacts) -> list[Check]:
    """``batch.partition.N``: a FAIL for each Kafka partition without a watermark.

    The horizon is the least watermark over all the topic's partitions, so one that no
    batch process takes (e.g. added to the topic later, outside every PARTITIONS= list)
    holds it back forever. Judged only once some partition has a watermark: before
    that, no batch cycle has run and ``batch.horizon`` says so.
    """
    if not w.watermarked or k.error is not None or not k.topic_exists or k.offsets_error:
        return []
    held = (
        f"the horizon is held at {w.horizon:%Y-%m-%d %H:%M}"
        if w.horizon is not None
        else "no horizon is published"
    )
    return [
        Check(
            Level.FAIL,
            f"batch.partition.{p.partition}",
            f"partition {p.partition} has never been landed by a batch process: no batch "
            f"process takes it (PARTITIONS=...), so {held}; give it an owner "
            "(docs/scaling.md: Scaling out the batch layer)",
        )
        for p in k.partitions
        if p.partition not in w.watermarked
    ]


def _loss_checks(w: WarehouseFacts) -> list[Check]:
    """``batch.lost``: OK when no recorded offset loss awaits an acknowledgement, else a
    FAIL line for each (the first :data:`LOSS_LINES`, then one line for the rest)."""
    if w.losses_open == 0:
        acknowledged = f" ({w.losses_acknowledged:,} acknowledged)" if w.losses_acknowledged else ""
        return [Check(Level.OK, "batch.lost", f"no unacknowledged offset loss{acknowledged}")]
    checks = [_loss_check(loss) for loss in w.losses[:LOSS_LINES]]
    rest = w.losses_open - len(checks)
    if rest > 0:
        noun = "loss" if rest == 1 else "losses"
        checks.append(
            Check(
                Level.FAIL,
                "batch.lost.more",
                f"{rest:,} more unacknowledged offset {noun} (all of them are in the "
                f"table lost_offsets); {ACK_LOSS}",
            )
        )
    return checks


def _loss_check(loss: LossFacts) -> Check:
    # Names must be unique in a report: a partition may lose several ranges, and a new
    # incarnation of the topic (generation) starts its offsets at 0 again.
    suffix = f".gen{loss.generation}" if loss.generation else ""
    generation = f" (generation {loss.generation})" if loss.generation else ""
    return Check(
        Level.FAIL,
        f"batch.lost.{loss.partition}.{loss.first}{suffix}",
        f"messages {loss.first}..{loss.last} of {loss.topic}/{loss.partition}{generation} "
        f"expired before the batch layer landed them (detected "
        f"{loss.detected_at:%Y-%m-%d %H:%M}); {ACK_LOSS}",
    )


# The speed layer --------------------------------------------------------------------


def speed_fresh_limit(settings: Settings) -> timedelta:
    """How old the speed layer's last micro-batch may be and still count as running."""
    return max(SPEED_FRESH_MIN, SPEED_FRESH_TRIGGERS * timedelta(seconds=settings.speed_trigger))


def _speed_check(
    last: SpeedBatchFacts | None, kafka: KafkaFacts, settings: Settings, now: datetime
) -> Check:
    name = "speed.last-batch"
    if last is None:
        return Check(Level.WARN, name, "no micro-batch yet (is make speed running?)")
    age = now - last.finished_at
    detail = f"batch {last.batch_id} finished {_relative(age)} ({last.input_rows:,} input rows)"
    if age <= speed_fresh_limit(settings):
        return Check(Level.OK, name, detail)
    newest = _newest_message(kafka)
    if kafka.error is None and kafka.offsets_error is None and kafka.topic_exists:
        if newest is None or newest <= last.finished_at:
            return Check(Level.OK, name, f"{detail}; idle: no newer message in Kafka")
        waiting = f"{detail}; messages produced since (newest {newest:%Y-%m-%d %H:%M:%S})"
        if age > SPEED_FAIL_AFTER:
            return Check(Level.FAIL, name, f"{waiting}: the speed layer is down")
        return Check(Level.WARN, name, f"{waiting}: is make speed running?")
    return Check(
        Level.WARN, name, f"{detail}; without Kafka's offsets, cannot tell idle from stopped"
    )


def _newest_message(kafka: KafkaFacts) -> datetime | None:
    stamps = [p.newest_at for p in kafka.partitions if p.newest_at is not None]
    return max(stamps) if stamps else None


def _rejects_check(name: str, rejects: int, total: int, when: str) -> Check:
    if total == 0:
        return Check(Level.OK, name, f"none (no messages read yet{when})")
    share = rejects / total
    detail = f"{rejects:,} of {total:,} messages{when} ({share:.1%})"
    if share > REJECT_WARN_RATIO:
        return Check(
            Level.WARN,
            name,
            f"{detail}: over {REJECT_WARN_RATIO:.0%}, is a producer sending bad events?",
        )
    return Check(Level.OK, name, detail)


# Formatting -------------------------------------------------------------------------


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as naive UTC (warehouse timestamps are naive UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _duration(span: timedelta) -> str:
    """``45s``, ``12m``, ``1h05m``, ``2d03h``: compact and rounded down."""
    text = two_units(int(abs(span).total_seconds()))
    return text.removesuffix("00s") if text.endswith("m00s") else text  # whole minutes


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _relative(age: timedelta) -> str:
    """``3m ago``, or ``in 5m`` for a time ahead of the clock."""
    return f"{_duration(age)} ago" if age >= timedelta(0) else f"in {_duration(age)}"
