"""The alerting rules (monitoring/alerts.yml, made by lambda_monitoring/rules.py): promtool's
own unit tests of every rule, the file in step with the code, every rule's metadata, the
thresholds agreeing with ``make status``, and every metric a rule uses exported by the
dashboard (scraped through its test client), so a renamed metric fails the build."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lambda_common.settings import Settings, load_settings
from lambda_monitoring.rules import JOB, SECTION, Thresholds, alerts, duration, render_rules
from serving_layer import status_facts
from serving_layer.status_checks import evaluate
from serving_layer.status_facts import Level, SpeedBatchFacts
from serving_layer.status_meanings import MEANINGS
from tests.unit.test_dashboard import InMemoryReads, client_for, snapshot
from tests.unit.test_status import NOW, healthy, with_warehouse

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
ALERTS = MONITORING / "alerts.yml"
# Prometheus' own series for each target it scrapes: not the dashboard's to export.
PROMETHEUS_SERIES = {"up"}
# The families a rule may name in a label matcher: make status's (the table of docs/monitoring.md).
FAMILIES = set(MEANINGS)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """``promtool ARGS``; fails (not skips) the test when it is missing: make test installs
    it (make deps: Debian's prometheus package)."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: run make deps (Debian's prometheus package)")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_unit_tests_of_every_rule_pass() -> None:
    tests = sorted((MONITORING / "tests").glob("*.yml"))
    assert tests, "no promtool test files in monitoring/tests"
    result = promtool("test", "rules", *map(str, tests))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_rule_has_a_firing_and_a_quiet_case_in_the_promtool_tests() -> None:
    text = "\n".join(p.read_text() for p in (MONITORING / "tests").glob("*.yml"))
    for alert in alerts(Thresholds.defaults()):
        cases = re.findall(rf"alertname: {alert.name}\b(.*?)(?=\n\s*- |\Z)", text, re.S)
        assert any("exp_alerts" in c for c in cases), f"{alert.name}: never seen firing"
        assert any("exp_alerts" not in c for c in cases), f"{alert.name}: never seen quiet"


def test_alerts_yml_is_the_rules_for_the_default_settings() -> None:
    """The shipped file is what the code makes for the defaults (make monitoring-files
    writes it again), and Prometheus accepts it."""
    assert ALERTS.read_text() == render_rules(Thresholds.defaults()), (
        "monitoring/alerts.yml is out of date: run make monitoring-files"
    )
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts(Thresholds.defaults()))} rules found" in result.stdout


def test_every_rule_has_a_hold_a_severity_and_says_what_to_do() -> None:
    rules = alerts(Thresholds.defaults())
    assert len({a.name for a in rules}) == len(rules)
    for a in rules:
        assert re.fullmatch(r"Lambda[A-Z][A-Za-z]+", a.name), a.name  # CamelCase, one prefix
        assert a.hold >= timedelta(minutes=1), a.name
        assert a.severity in ("warning", "critical"), a.name
        assert a.summary and "\n" not in a.summary, a.name
        # What to do is in the docs section; the check it mirrors is named (or, for
        # make verify's alert, the command that names the difference).
        assert SECTION in a.description, a.name
        assert re.search(r"make (status|verify)", a.description), a.name


@pytest.mark.parametrize(
    ("batch_interval", "allowed_lateness", "speed_trigger"),
    [("5m", "10m", "1s"), ("1h", "30m", "30s"), ("10s", "0s", "1s")],
)
def test_thresholds_are_where_make_status_stops_saying_ok(
    batch_interval: str, allowed_lateness: str, speed_trigger: str
) -> None:
    """The horizon rule's threshold is make status's batch.horizon limit for the same
    settings: one second below it the check is OK, one second above it WARNs."""
    settings = load_settings(
        batch_interval=batch_interval, allowed_lateness=allowed_lateness,
        speed_trigger=speed_trigger,
    )  # fmt: skip
    t = Thresholds.of(settings)
    (horizon_rule,) = [a for a in alerts(t) if a.name == "LambdaBatchHorizonTooOld"]
    limit = int(horizon_rule.expr.rsplit(">", 1)[1])
    assert limit == t.horizon_limit.total_seconds()
    for offset, level in ((-1, Level.OK), (1, Level.WARN)):
        facts = with_warehouse(healthy(), horizon=NOW - timedelta(seconds=limit + offset))
        (check,) = [c for c in evaluate(facts, settings, NOW) if c.name == "batch.horizon"]
        assert check.level is level, (offset, check)
    (speed_rule,) = [a for a in alerts(t) if a.name == "LambdaSpeedLayerStale"]
    assert speed_rule.expr.endswith(f"> {int(t.speed_limit.total_seconds())})")
    assert t.lag_window >= 3 * timedelta(seconds=settings.batch_interval)
    # The rendered file says which settings it was made for.
    assert f"BATCH_INTERVAL={duration(timedelta(seconds=settings.batch_interval))}" in (
        render_rules(t)
    )


def test_durations_are_prometheus_durations() -> None:
    assert [duration(timedelta(seconds=s)) for s in (0, 90, 4800, 86_400 + 5)] == [
        "0s", "1m30s", "1h20m", "1d5s",
    ]  # fmt: skip


# --- Every metric a rule uses is one the dashboard exports ---------------------------------

SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
PROMQL_WORDS = {
    "and", "or", "unless", "on", "ignoring", "by", "without", "offset", "bool",
    "time", "delta", "resets", "rate", "increase", "absent", "job", "instance",
}  # fmt: skip


def _selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """``(metric, {label: value})`` of every series selector in a PromQL expression."""
    found = []
    for name, braces in SELECTOR.findall(re.sub(r"\[[^\]]*\]", "", expr)):
        if name in PROMQL_WORDS or name.isdigit() or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        labels = {k: v for k, _, v in MATCHER.findall(braces)} if braces else {}
        found.append((name, labels))
    return found


def _full_snapshot(settings: Settings) -> object:
    """A snapshot whose facts hold every optional fact the dashboard turns into a metric
    (a micro-batch with a rate, the last make verify where the dashboard knows it)."""
    facts = with_warehouse(healthy(), last_speed_batch=SpeedBatchFacts(9, NOW, 3_000, 1_500))
    verify = status_facts.VerifyFacts(
        finished_at=NOW - timedelta(minutes=5), ok=True, views=3, rows=9, events=10,
        duration_s=1.5, failed="",
    )  # fmt: skip
    facts = with_warehouse(facts, last_verify=verify)
    return snapshot(settings, facts)


def _exported() -> dict[str, set[str]]:
    """metric -> its label names, as the dashboard's /metrics serves them."""
    settings = load_settings(allowed_lateness="10m", batch_interval="5m", speed_trigger="1s")
    client = client_for(settings, InMemoryReads(), _full_snapshot(settings))  # type: ignore[arg-type]
    response = client.get("/metrics")
    assert response.status_code == 200
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    return exported


def _used() -> dict[str, list[dict[str, str]]]:
    used: dict[str, list[dict[str, str]]] = {}
    for a in alerts(Thresholds.defaults()):
        for name, labels in _selectors(a.expr):
            used.setdefault(name, []).append(labels)
    return used


def _params() -> list[str]:
    return sorted(_used())


def test_the_rules_use_the_dashboards_metrics() -> None:
    used = _used()
    assert {n for n in used if n.startswith("lambda_")} >= {
        "lambda_batch_horizon_age_seconds",
        "lambda_kafka_partition_lag",
        "lambda_status_check",
        "lambda_verify_ok",
    }
    assert set(used) - PROMETHEUS_SERIES == {n for n in used if n.startswith("lambda_")}
    assert used["up"] == [{"job": JOB}]


@pytest.mark.parametrize("metric", _params())
def test_every_metric_a_rule_uses_is_exported_by_the_dashboard(metric: str) -> None:
    """Each series a rule selects is on the dashboard's /metrics, with every label the rule
    matches on, and every make status family or check it names is a real one."""
    if metric in PROMETHEUS_SERIES:
        return
    exported = _exported()
    assert metric in exported, f"{metric}: not on the dashboard's /metrics"
    checks = {c.name for c in evaluate(healthy(), load_settings(), NOW)}
    for labels in _used()[metric]:
        assert set(labels) <= exported[metric], (metric, labels, exported[metric])
        if "family" in labels:
            assert labels["family"] in FAMILIES, labels
        if "check" in labels:
            assert labels["check"] in checks, labels
