"""make monitoring-up's files without starting anything: the configuration Prometheus is
given (checked by promtool), where it listens and what it scrapes, the PROMETHEUS_PORT
setting, and the command line."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from lambda_common.errors import ConfigError
from lambda_common.settings import load_settings
from lambda_monitoring import cli
from lambda_monitoring.prometheus import (
    CONFIG,
    RULES,
    PrometheusService,
    dashboard_target,
    write_files,
)
from lambda_monitoring.rules import Thresholds, render_rules
from tests.unit.test_monitoring_rules import promtool

pytestmark = pytest.mark.unit


def test_configuration_and_rules_pass_promtool(tmp_path: Path) -> None:
    settings = load_settings(batch_interval="1h", allowed_lateness="30m")
    config = write_files(tmp_path, settings, "127.0.0.1:8050", hold=timedelta(seconds=5))
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout
    text = config.read_text()
    assert 'job_name: "lambda-tweets"' in text and '["127.0.0.1:8050"]' in text
    rules = (tmp_path / RULES).read_text()
    # The settings' thresholds (30m + 1h + 2 x 1h = 3h30m) and the short hold.
    assert "lambda_batch_horizon_age_seconds > 12600" in rules
    assert rules.count("for: 5s") == 10
    assert rules == render_rules(Thresholds.of(settings), timedelta(seconds=5))


def test_listens_on_loopback_at_prometheus_port_and_scrapes_the_dashboard(
    tmp_path: Path,
) -> None:
    settings = load_settings(prometheus_port=19090, dashboard_port=18050, dashboard_host="0.0.0.0")  # noqa: S104
    service = PrometheusService(settings, tmp_path)
    (port,) = service.ports()
    assert (port.setting, port.address.host, port.address.port) == (
        "PROMETHEUS_PORT",
        "127.0.0.1",
        19090,
    )
    assert dashboard_target(settings) == "127.0.0.1:18050"
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus not found: run make deps (Debian's prometheus package)")
    argv = service.foreground_command()
    assert "--web.listen-address=127.0.0.1:19090" in argv
    assert f"--config.file={tmp_path / 'prometheus' / CONFIG}" in argv
    assert f"--storage.tsdb.path={tmp_path / 'prometheus' / 'data'}" in argv
    assert service.pid() is None  # nothing started


def test_prometheus_port_is_a_setting_checked_at_start() -> None:
    assert load_settings().prometheus_port == 9090
    assert dict(load_settings().describe())["PROMETHEUS_PORT"] == "9090"
    with pytest.raises(ConfigError, match="invalid setting PROMETHEUS_PORT: "):
        load_settings(prometheus_port=70000)


def test_rules_command_writes_the_rules_for_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BATCH_INTERVAL", "10m")
    assert cli.main(["rules"]) == 0
    assert "lambda_batch_horizon_age_seconds > 5400" in capsys.readouterr().out
    assert cli.main(["rules", "--out", str(tmp_path / "r.yml")]) == 0
    assert "BATCH_INTERVAL=10m" in (tmp_path / "r.yml").read_text()
    monkeypatch.setenv("PROMETHEUS_PORT", "0")
    assert cli.main(["status"]) == 2  # a bad setting: one line naming it, exit 2
    assert "PROMETHEUS_PORT" in capsys.readouterr().err
