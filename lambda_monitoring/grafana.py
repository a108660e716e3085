"""A Grafana dashboard of the pipeline over the dashboard's ``lambda_*`` metrics, built with
Grafana Labs' own builder library (``grafana-foundation-sdk``, its types generated from
Grafana's dashboard schema) and written to ``monitoring/grafana-dashboard.json``
(``make monitoring-files``). Import it into Grafana and pick the Prometheus that scrapes
the dashboard; every panel names the alert it goes with.

The library is a development dependency: the JSON is generated once and shipped, nothing
at run time needs it.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import BigValueColorMode
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from lambda_monitoring.rules import JOB

UID = "lambda-tweets"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WIDTH = 24  # Grafana's grid is 24 columns wide


def _query(expr: str, legend: str = "", ref: str = "A") -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def _series(title: str, description: str, unit: str, *queries: Dataquery) -> Timeseries:
    panel = Timeseries().title(title).description(description).unit(unit).height(8).span(12)
    for q in queries:
        panel = panel.with_target(q)
    return panel.datasource(DATASOURCE)


def _stat(title: str, description: str, expr: str, unit: str = "none") -> Stat:
    return (
        Stat()
        .title(title)
        .description(description)
        .unit(unit)
        .height(4)
        .span(6)
        .color_mode(BigValueColorMode.BACKGROUND)
        .datasource(DATASOURCE)
        .with_target(_query(expr))
    )


def build() -> Dashboard:
    """The dashboard: health, the batch layer, the speed layer, the views."""
    return (
        Dashboard("Lambda pipeline")
        .uid(UID)
        .tags(["lambda-tweets", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .description(
            "The Lambda pipeline's health from its dashboard's /metrics "
            "(lambda_monitoring/grafana.py makes it; monitoring/alerts.yml alerts on it)."
        )
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_row(Row("Health"))
        .with_panel(
            _stat(
                "make status FAILs",
                "Checks at FAIL (LambdaStatusCheckFailing)",
                'sum(lambda_status_checks{level="FAIL"})',
            )
        )
        .with_panel(
            _stat(
                "make status WARNs",
                "Checks at WARN",
                'sum(lambda_status_checks{level="WARN"})',
            )
        )
        .with_panel(
            _stat(
                "Dashboard up",
                "1 when Prometheus scrapes the dashboard (LambdaDashboardDown)",
                f'min(up{{job="{JOB}"}})',
            )
        )
        .with_panel(
            _stat(
                "Health snapshot age",
                "How old the numbers here are (LambdaHealthStale)",
                "max(lambda_status_age_seconds)",
                "s",
            )
        )
        .with_row(Row("Batch layer"))
        .with_panel(
            _series(
                "Batch horizon age",
                "How far the horizon is behind now (LambdaBatchHorizonTooOld)",
                "s",
                _query("lambda_batch_horizon_age_seconds", "horizon age"),
            )
        )
        .with_panel(
            _series(
                "Kafka lag per partition",
                "Messages the batch layer has yet to land (LambdaKafkaLagGrowing)",
                "short",
                _query("lambda_kafka_partition_lag", "partition {{partition}}"),
            )
        )
        .with_panel(
            _series(
                "Rejected share of messages",
                "Per layer; the alert is above 5 % (LambdaRejectsHigh)",
                "percentunit",
                _query("lambda_rejects / (lambda_messages > 0)", "{{layer}}"),
            )
        )
        .with_panel(
            _series(
                "Unacknowledged offset losses",
                "make status batch.lost lines at FAIL (LambdaOffsetsLost)",
                "short",
                _query('count(lambda_status_check{family="batch.lost"} == 2) or vector(0)', "lost"),
            )
        )
        .with_row(Row("Speed layer"))
        .with_panel(
            _series(
                "Freshness and micro-batch age",
                "The newest event served, and the last micro-batch (LambdaSpeedLayerStale)",
                "s",
                _query("lambda_freshness_seconds", "newest event"),
                _query(
                    "time() - lambda_speed_microbatch_finished_timestamp_seconds",
                    "last micro-batch",
                    "B",
                ),
            )
        )
        .with_panel(
            _series(
                "Micro-batches",
                "The newest micro-batch's duration and input rate",
                "s",
                _query("lambda_speed_microbatch_duration_seconds", "duration"),
                _query("lambda_speed_input_rate", "messages/s", "B"),
            )
        )
        .with_row(Row("Views"))
        .with_panel(
            _series(
                "Tweets served per view",
                "Each serving view's sum of tweet_count",
                "short",
                _query("lambda_view_tweets", "{{view}}"),
            )
        )
        .with_panel(
            _series(
                "Duplicate keys and make verify",
                "Keys served twice (LambdaViewDuplicateKeys, promised 0) and the last "
                "make verify (1 exact; LambdaVerifyMismatch)",
                "short",
                _query("lambda_view_duplicate_keys", "twice: {{view}}"),
                _query("lambda_verify_ok", "verify ok", "B"),
            )
        )
    )


def dashboard_json() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    data: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(build().build()))
    # Grafana keys a panel's state (links, edits) by its id: numbered in order, rows too.
    for number, panel in enumerate(data["panels"], start=1):
        panel["id"] = number
    return data


def render_dashboard() -> str:
    """The file ``monitoring/grafana-dashboard.json`` holds."""
    return json.dumps(dashboard_json(), indent=2, sort_keys=True) + "\n"
