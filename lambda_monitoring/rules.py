"""The Prometheus alerting rules over the dashboard's ``lambda_*`` metrics, as code.

Each rule mirrors a ``make status`` check (or the dashboard itself) and names it, and the
section of docs/monitoring.md (Monitoring and alerts) that says what to do. The
thresholds that depend on settings are computed here from the same settings and the same
constants ``make status`` judges with, so the alerts and ``make status`` never disagree on
what "too old" means: :func:`render_rules` writes the rule file for one set of settings
(``make monitoring-rules``, ``make monitoring-up``), and ``monitoring/alerts.yml`` is that
file for the defaults (a unit test keeps it in step).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lambda_common.settings import Settings
from serving_layer.status_checks import (
    HORIZON_SLACK,
    REJECT_WARN_RATIO,
    SPEED_FRESH_MIN,
    SPEED_FRESH_TRIGGERS,
)

# The scrape job the rules expect the dashboard under (docs/monitoring.md's scrape config).
JOB = "lambda-tweets"
GROUP = "lambda-tweets"
SECTION = "docs/monitoring.md: Monitoring and alerts"

# Kafka lag: the batch layer lands (and commits) every BATCH_INTERVAL, so a healthy lag is
# a saw-tooth that drops at least once an interval. Growing over LAG_WINDOW_INTERVALS
# intervals (and at least LAG_WINDOW_MIN) without one drop means no partition data is being
# landed while messages arrive: seen long before the horizon alert, which waits for hours.
LAG_WINDOW_INTERVALS = 3
LAG_WINDOW_MIN = timedelta(minutes=15)
# The dashboard gathers the health every DASHBOARD_REFRESH; a snapshot older than this many
# refreshes (and at least HEALTH_STALE_MIN, for a slow gathering) means its monitor is stuck,
# and every other alert would be judging stale numbers.
HEALTH_STALE_REFRESHES = 10
HEALTH_STALE_MIN = timedelta(minutes=2)


@dataclass(frozen=True)
class Thresholds:
    """The settings the rules depend on, in seconds, and the dashboard's scrape job."""

    batch_interval: int
    allowed_lateness: int
    speed_trigger: float
    dashboard_refresh: int
    job: str = JOB

    @classmethod
    def of(cls, settings: Settings) -> Thresholds:
        """The thresholds of these settings."""
        return cls(
            settings.batch_interval,
            settings.allowed_lateness,
            settings.speed_trigger,
            settings.dashboard_refresh,
        )

    @classmethod
    def defaults(cls) -> Thresholds:
        """The thresholds of the settings' defaults (not the environment's or .env's)."""
        fields = Settings.model_fields

        def default(name: str) -> int:
            return int(fields[name].default)

        def fine(name: str) -> float:
            return float(fields[name].default)

        return cls(
            default("batch_interval"),
            default("allowed_lateness"),
            fine("speed_trigger"),
            default("dashboard_refresh"),
        )

    @property
    def horizon_limit(self) -> timedelta:
        """``make status``'s ``batch.horizon`` limit: ALLOWED_LATENESS + 1 h + 2 x
        BATCH_INTERVAL (right after a cycle the hour-aligned horizon is up to 1 h +
        ALLOWED_LATENESS old; one interval more is slack for a slow or failed cycle)."""
        return (
            timedelta(seconds=self.allowed_lateness)
            + HORIZON_SLACK
            + 2 * timedelta(seconds=self.batch_interval)
        )

    @property
    def speed_limit(self) -> timedelta:
        """``make status``'s ``speed.last-batch`` limit: max(2 min, 10 x SPEED_TRIGGER)."""
        return max(SPEED_FRESH_MIN, SPEED_FRESH_TRIGGERS * timedelta(seconds=self.speed_trigger))

    @property
    def lag_window(self) -> timedelta:
        """How long the lag of a partition must grow without one drop."""
        return max(LAG_WINDOW_MIN, LAG_WINDOW_INTERVALS * timedelta(seconds=self.batch_interval))

    @property
    def health_stale(self) -> timedelta:
        """How old the dashboard's health snapshot may get."""
        refresh = timedelta(seconds=self.dashboard_refresh)
        return max(HEALTH_STALE_MIN, HEALTH_STALE_REFRESHES * refresh)


@dataclass(frozen=True)
class Alert:
    """One alerting rule: its name, PromQL, ``for:``, severity, and its two annotations."""

    name: str
    expr: str
    hold: timedelta
    severity: str
    summary: str
    description: str


def duration(span: timedelta) -> str:
    """A Prometheus duration: ``1h20m``, ``15m``, ``90s`` -> ``1m30s``, ``0s``."""
    seconds = int(span.total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def trigger_text(seconds: float) -> str:
    """``SPEED_TRIGGER`` as set: a Prometheus duration, or milliseconds below a second."""
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    return duration(timedelta(seconds=seconds))


def alerts(t: Thresholds) -> list[Alert]:
    """Every rule, for these thresholds (in the order of docs/monitoring.md's table)."""
    horizon, speed, window = duration(t.horizon_limit), duration(t.speed_limit), t.lag_window
    lag = f"lambda_kafka_partition_lag[{duration(window)}]"
    ratio = f"{REJECT_WARN_RATIO:g}"
    return [
        Alert(
            "LambdaBatchHorizonTooOld",
            f"lambda_batch_horizon_age_seconds > {int(t.horizon_limit.total_seconds())}",
            timedelta(minutes=5),
            "warning",
            "The batch horizon is {{ $value | humanizeDuration }} old",
            f"Older than ALLOWED_LATENESS + 1h + 2 x BATCH_INTERVAL = {horizon}: no batch "
            "cycle has finished on schedule, so late events wait and the speed layer serves "
            f"ever more hours. make status check batch.horizon; {SECTION}.",
        ),
        Alert(
            "LambdaSpeedLayerStale",
            f'lambda_status_check{{check="speed.last-batch"}} >= 1 and on(job, instance) '
            f"(time() - lambda_speed_microbatch_finished_timestamp_seconds > "
            f"{int(t.speed_limit.total_seconds())})",
            timedelta(minutes=5),
            "warning",
            "The speed layer has run no micro-batch while messages wait",
            f"Its newest micro-batch is older than max(2m, 10 x SPEED_TRIGGER) = {speed} "
            "and Kafka holds newer messages: the serving view's hours after the horizon "
            f"stand still. make status check speed.last-batch; {SECTION}.",
        ),
        Alert(
            "LambdaKafkaLagGrowing",
            # ``offset``: only once the series covers the whole window (a Prometheus just
            # started, or a new partition, has seen no drop yet because it has seen little).
            f"delta({lag}) > 0 and resets({lag}) == 0 "
            f"and lambda_kafka_partition_lag offset {duration(window)}",
            timedelta(minutes=5),
            "warning",
            "Kafka lag of partition {{ $labels.partition }} keeps growing",
            "It grew by {{ $value }} messages over "
            f"{duration(window)} (max(15m, 3 x BATCH_INTERVAL)) without one batch cycle "
            "landing from it. make status check kafka.partition."
            "{{ $labels.partition }}; " + f"{SECTION}.",
        ),
        Alert(
            "LambdaOffsetsLost",
            'lambda_status_check{family="batch.lost"} == 2',
            timedelta(minutes=1),
            "critical",
            "Kafka's retention deleted messages before the batch layer landed them",
            "{{ $labels.check }}: the master dataset lacks these offsets until someone "
            "acts and acknowledges them with make batch-ack-loss. make status check "
            f"batch.lost; {SECTION}.",
        ),
        Alert(
            "LambdaRejectsHigh",
            f"lambda_rejects / (lambda_messages > 0) > {ratio}",
            timedelta(minutes=15),
            "warning",
            "The {{ $labels.layer }} layer rejects {{ $value | humanizePercentage }} "
            "of the messages",
            f"Over {REJECT_WARN_RATIO:.0%} of the messages read are rejected (kept with their "
            "reason, never counted): is a producer sending bad events? make status check "
            f"{{{{ $labels.layer }}}}.rejects; {SECTION}.",
        ),
        Alert(
            "LambdaViewDuplicateKeys",
            "lambda_view_duplicate_keys > 0",
            timedelta(minutes=2),
            "critical",
            "serving view {{ $labels.view }} serves {{ $value }} keys more than once",
            "The pipeline promises every key (hour and the view's keys) once: its counts "
            "are now wrong. make status check serving.integrity.{{ $labels.view }}; "
            f"{SECTION}.",
        ),
        Alert(
            "LambdaVerifyMismatch",
            "lambda_verify_ok == 0",
            timedelta(minutes=1),
            "critical",
            "The last make verify found a difference",
            "A batch view or the landed objects differ from the S3 master dataset "
            "recomputed by a second engine. make status check batch.verify and make verify "
            f"name it; {SECTION}.",
        ),
        Alert(
            "LambdaDashboardDown",
            f'up{{job="{t.job}"}} == 0',
            timedelta(minutes=2),
            "critical",
            "The dashboard at {{ $labels.instance }} does not answer scrapes",
            "Without it no other alert can fire. make dashboard (or docker compose up "
            f"dashboard); make status still works without it; {SECTION}.",
        ),
        Alert(
            "LambdaHealthStale",
            "lambda_status_up == 0 or lambda_status_age_seconds > "
            f"{int(t.health_stale.total_seconds())}",
            timedelta(minutes=5),
            "critical",
            "The dashboard's health snapshot is not being refreshed",
            "It has gathered no health yet, or its snapshot is older than "
            f"max(2m, 10 x DASHBOARD_REFRESH) = {duration(t.health_stale)}: every other "
            "alert judges stale numbers. Its log names the stuck service; make status "
            f"asks the same; {SECTION}.",
        ),
        Alert(
            "LambdaStatusCheckFailing",
            'lambda_status_check{family!="batch.lost", family!="batch.verify", '
            'family!="serving.integrity"} == 2',
            timedelta(minutes=5),
            "critical",
            "make status check {{ $labels.check }} is FAIL",
            "Every make status FAIL but those with an alert of their own (LambdaOffsetsLost, "
            "LambdaVerifyMismatch, LambdaViewDuplicateKeys). make status prints the line "
            "and what to do; "
            f"{SECTION} (its table of checks).",
        ),
    ]


def rule_list(t: Thresholds, hold: timedelta | None = None) -> list[dict[str, Any]]:
    """The rules as Prometheus reads them; ``hold`` replaces every ``for:`` (short-lived
    tests)."""
    return [
        {
            "alert": a.name,
            "expr": a.expr,
            "for": duration(a.hold if hold is None else hold),
            "labels": {"severity": a.severity},
            "annotations": {"summary": a.summary, "description": a.description},
        }
        for a in alerts(t)
    ]


def render_rules(t: Thresholds, hold: timedelta | None = None) -> str:
    """The rule file as YAML (one group), with a header naming the settings it is for."""
    made_for = (
        f"BATCH_INTERVAL={duration(timedelta(seconds=t.batch_interval))} "
        f"ALLOWED_LATENESS={duration(timedelta(seconds=t.allowed_lateness))} "
        f"SPEED_TRIGGER={trigger_text(t.speed_trigger)} "
        f"DASHBOARD_REFRESH={duration(timedelta(seconds=t.dashboard_refresh))}"
    )
    lines = [
        "# Prometheus alerting rules of the Lambda pipeline, over the dashboard's /metrics",
        f"# (scrape job {t.job!r}). Generated by lambda_monitoring/rules.py: do not edit;",
        "# make monitoring-rules writes them for your settings. Made for:",
        f"# {made_for}",
        f"# {SECTION} says what each alert means and what to do.",
        "groups:",
        f"  - name: {_quote(GROUP)}",
        "    rules:",
    ]
    for rule in rule_list(t, hold):
        lines += [
            f"      - alert: {rule['alert']}",
            f"        expr: {_quote(rule['expr'])}",
            f"        for: {rule['for']}",
            "        labels:",
            *(f"          {k}: {_quote(v)}" for k, v in rule["labels"].items()),
            "        annotations:",
            *(f"          {k}: {_quote(v)}" for k, v in rule["annotations"].items()),
        ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A YAML flow scalar for ``text``: single-quoted (PromQL's double quotes stay as they
    are), or double-quoted as JSON writes it (a subset of YAML's) when it holds a ``'``."""
    if "'" in text or not text.isprintable():
        return json.dumps(text, ensure_ascii=False)
    return f"'{text}'"
