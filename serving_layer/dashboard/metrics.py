"""Prometheus metrics at ``/metrics``: the newest health snapshot as gauges.

:func:`metric_families` is a pure function of a :class:`Snapshot` and the clock, so every
metric is unit-tested with crafted facts; :class:`PipelineCollector` hands it to the
Prometheus client library, which renders the text format on each scrape. Every metric is
documented in docs/monitoring.md (Prometheus metrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from serving_layer.dashboard.documents import batch_rate
from serving_layer.dashboard.monitor import Snapshot
from serving_layer.dashboard.reads import MicroBatch
from serving_layer.status_facts import RANK, Level, VerifyFacts
from serving_layer.status_meanings import family

PREFIX = "lambda_"


def _seconds(moment: datetime) -> float:
    """A naive-UTC time as Unix seconds."""
    return moment.replace(tzinfo=UTC).timestamp()


def _gauge(
    name: str, documentation: str, unit: str = "", labels: tuple[str, ...] = ()
) -> GaugeMetricFamily:
    """A gauge named ``lambda_<name>[_<unit>]`` with these label names."""
    return GaugeMetricFamily(PREFIX + name, documentation, unit=unit, labels=labels)


def _value(name: str, documentation: str, value: float, unit: str = "") -> GaugeMetricFamily:
    """A gauge of :func:`_gauge` holding one sample without labels."""
    gauge = _gauge(name, documentation, unit)
    gauge.add_metric([], value)
    return gauge


def metric_families(snapshot: Snapshot | None, now: datetime) -> list[GaugeMetricFamily]:
    """The gauges of one scrape (``now``: naive UTC). Before the first snapshot only
    ``lambda_status_up`` (0) is reported."""
    up = _value(
        "status_up",
        "1 once the pipeline's health has been gathered at least once",
        0 if snapshot is None else 1,
    )
    if snapshot is None:
        return [up]
    facts, w, k = snapshot.facts, snapshot.facts.warehouse, snapshot.facts.kafka
    families = [up]

    age = _value(
        "status_age",
        "Age of the health snapshot these metrics show",
        (now - snapshot.gathered_at).total_seconds(),
        "seconds",
    )
    took = _value(
        "status_gather_duration",
        "How long gathering the snapshot took",
        snapshot.duration_s,
        "seconds",
    )
    checks = _gauge(
        "status_check",
        "Each make status check: 0 OK, 1 WARN, 2 FAIL "
        "(family: docs/monitoring.md, its table of checks)",
        labels=("check", "family"),
    )
    for c in snapshot.checks:
        checks.add_metric([c.name, family(c.name)], RANK[c.level])
    levels = _gauge(
        "status_checks", "Number of make status checks at each level", labels=("level",)
    )
    counted = Counter(c.level for c in snapshot.checks)
    for level in Level:
        levels.add_metric([level.value], counted[level])
    families += [age, took, checks, levels]

    service = _gauge(
        "service_up", "1 when the service answered the last gathering", labels=("service",)
    )
    for name, error in (("kafka", k.error), ("s3", facts.s3.error), ("warehouse", w.error)):
        service.add_metric([name], 0 if error else 1)
    families.append(service)

    lag = _gauge(
        "kafka_partition_lag",
        "Messages the batch layer has yet to land, per partition",
        labels=("partition",),
    )
    end = _gauge(
        "kafka_partition_end_offset",
        "Offset the next message of a partition gets",
        labels=("partition",),
    )
    for p in k.partitions:
        lag.add_metric([str(p.partition)], p.lag)
        end.add_metric([str(p.partition)], p.end)
    families += [lag, end]

    for moment, (at_name, at_doc), (age_name, age_doc) in (
        (
            w.horizon,
            ("batch_horizon_timestamp", "The batch horizon (Unix time)"),
            ("batch_horizon_age", "How far the horizon is behind now"),
        ),
        (
            w.max_event_time,
            ("newest_event_timestamp", "The newest event time the pipeline serves"),
            ("freshness", "How far the newest event served is behind now"),
        ),
    ):
        if moment is not None:
            families += [
                _value(at_name, at_doc, _seconds(moment), "seconds"),
                _value(age_name, age_doc, (now - moment).total_seconds(), "seconds"),
            ]
    last = w.last_speed_batch
    if last is not None:
        batch = MicroBatch(
            last.batch_id, last.finished_at, last.duration_ms, last.input_rows, 0, None
        )
        families += [
            _value(
                "speed_microbatch_duration",
                "Duration of the newest micro-batch",
                last.duration_ms / 1000,
                "seconds",
            ),
            _value(
                "speed_microbatch_input_rows",
                "Messages the newest micro-batch read",
                last.input_rows,
            ),
            _value(
                "speed_microbatch_finished_timestamp",
                "When the newest micro-batch finished",
                _seconds(last.finished_at),
                "seconds",
            ),
        ]
        rate = batch_rate(batch)
        if rate is not None:
            families.append(
                _value(
                    "speed_input_rate", "Messages per second the newest micro-batch processed", rate
                )
            )

    rejects = _gauge(
        "rejects",
        "Rejected messages: the batch layer's over all it landed, the speed layer's over 24 h",
        labels=("layer",),
    )
    messages = _gauge(
        "messages",
        "Messages read: the batch layer's over all it landed, the speed layer's over 24 h",
        labels=("layer",),
    )
    rejects.add_metric(["batch"], w.ledger_rejects)
    rejects.add_metric(["speed"], w.speed_rejects_day)
    messages.add_metric(["batch"], w.ledger_events + w.ledger_rejects)
    messages.add_metric(["speed"], w.speed_input_day)
    families += [rejects, messages]

    view_rows = _gauge(
        "view_rows",
        "Rows of each view's batch table, speed table and serving view",
        labels=("view", "relation"),
    )
    tweets = _gauge(
        "view_tweets", "Tweets each serving view counts (its sum of tweet_count)", labels=("view",)
    )
    twice = _gauge(
        "view_duplicate_keys",
        "Keys a serving view serves more than once (the pipeline promises 0)",
        labels=("view",),
    )
    for v in w.views:
        name = v.view.name
        view_rows.add_metric([name, "batch"], v.batch_rows)
        view_rows.add_metric([name, "speed"], v.speed_rows)
        view_rows.add_metric([name, "serving"], v.serving_rows)
        tweets.add_metric([name], v.serving_tweets)
        twice.add_metric([name], v.duplicates)
    families += [view_rows, tweets, twice]
    if w.last_verify is not None:
        families += _verify_families(w.last_verify)
    return families


def _verify_families(run: VerifyFacts) -> list[GaugeMetricFamily]:
    """The topic's last ``make verify``: when, whether it passed, what it compared."""
    return [
        _value(
            "verify_last_run_timestamp",
            "When the last make verify finished",
            _seconds(run.finished_at),
            "seconds",
        ),
        _value(
            "verify_ok",
            "1 when the last make verify found every view and object exact",
            1 if run.ok else 0,
        ),
        _value("verify_rows_compared", "View rows the last make verify compared", run.rows),
        _value(
            "verify_events", "Events the last make verify read from the master dataset", run.events
        ),
        _value("verify_duration", "How long the last make verify took", run.duration_s, "seconds"),
    ]


class PipelineCollector(Collector):
    """Collects :func:`metric_families` of the monitor's newest snapshot on each scrape."""

    def __init__(
        self, latest: Callable[[], Snapshot | None], clock: Callable[[], datetime]
    ) -> None:
        self._latest = latest
        self._clock = clock

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return metric_families(self._latest(), self._clock())
