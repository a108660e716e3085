"""Prometheus metrics at ``/metrics``: the newest health snapshot as gauges.

:func:`metric_families` is a pure function of a :class:`Snapshot` and the clock, so every
metric is unit-tested with crafted facts; :class:`PipelineCollector` hands it to the
Prometheus client library, which renders the text format on each scrape. Every metric is
documented in docs/monitoring.md (Prometheus metrics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
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
    return _labelled(name, documentation, (), [((), value)], unit)


def _labelled(
    name: str,
    documentation: str,
    labels: tuple[str, ...],
    samples: Iterable[tuple[Sequence[str], float]],
    unit: str = "",
) -> GaugeMetricFamily:
    """A gauge of :func:`_gauge` holding these samples: (label values, value) each."""
    gauge = _gauge(name, documentation, unit, labels)
    for values, value in samples:
        gauge.add_metric(list(values), value)
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
    checks = _labelled(
        "status_check",
        "Each make status check: 0 OK, 1 WARN, 2 FAIL "
        "(family: docs/monitoring.md, its table of checks)",
        ("check", "family"),
        (((c.name, family(c.name)), RANK[c.level]) for c in snapshot.checks),
    )
    counted = Counter(c.level for c in snapshot.checks)
    levels = _labelled(
        "status_checks",
        "Number of make status checks at each level",
        ("level",),
        (((level.value,), counted[level]) for level in Level),
    )
    families += [age, took, checks, levels]

    services = (("kafka", k.error), ("s3", facts.s3.error), ("warehouse", w.error))
    families.append(
        _labelled(
            "service_up",
            "1 when the service answered the last gathering",
            ("service",),
            (((name,), 0 if error else 1) for name, error in services),
        )
    )

    families += [
        _labelled(
            "kafka_partition_lag",
            "Messages the batch layer has yet to land, per partition",
            ("partition",),
            (((str(p.partition),), p.lag) for p in k.partitions),
        ),
        _labelled(
            "kafka_partition_end_offset",
            "Offset the next message of a partition gets",
            ("partition",),
            (((str(p.partition),), p.end) for p in k.partitions),
        ),
    ]

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

    families += [
        _labelled(
            "rejects",
            "Rejected messages: the batch layer's over all it landed, the speed layer's over 24 h",
            ("layer",),
            [(("batch",), w.ledger_rejects), (("speed",), w.speed_rejects_day)],
        ),
        _labelled(
            "messages",
            "Messages read: the batch layer's over all it landed, the speed layer's over 24 h",
            ("layer",),
            [
                (("batch",), w.ledger_events + w.ledger_rejects),
                (("speed",), w.speed_input_day),
            ],
        ),
        _labelled(
            "view_rows",
            "Rows of each view's batch table, speed table and serving view",
            ("view", "relation"),
            (
                ((v.view.name, relation), rows)
                for v in w.views
                for relation, rows in (
                    ("batch", v.batch_rows),
                    ("speed", v.speed_rows),
                    ("serving", v.serving_rows),
                )
            ),
        ),
        _labelled(
            "view_tweets",
            "Tweets each serving view counts (its sum of tweet_count)",
            ("view",),
            (((v.view.name,), v.serving_tweets) for v in w.views),
        ),
        _labelled(
            "view_duplicate_keys",
            "Keys a serving view serves more than once (the pipeline promises 0)",
            ("view",),
            (((v.view.name,), v.duplicates) for v in w.views),
        ),
    ]
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
