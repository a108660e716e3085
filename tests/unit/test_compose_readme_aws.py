"""docker compose itself, given the .env that docs/aws.md ("Going to AWS") tells users to write.

tests/unit/test_compose.py runs ``docker compose config`` with its own AWS values; here the
values are that page's own block (with the QUERY_DSN it gives among them), as a user
copies them, and what is checked is what each container's program ends up with: its
settings loaded from the environment Compose hands it, so a setting left out falls back to
the program's default, which for the secrets is the local stack's. Needs the compose
binary (``docker/prepare.sh``, run by ``make test``, builds it); skipped without it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from lambda_common.settings import Settings, load_settings
from tests.unit.test_compose import AWS, COMPOSE, LOCAL_PASSWORDS, ROOT, SECRETS, compose_config

pytestmark = pytest.mark.usefixtures("clean_env")

# The page's opening, before its first section: where the .env block stands.
SECTION = (ROOT / "docs" / "aws.md").read_text().split("\n## ", 1)[0]


def _value(setting: Any) -> str:
    """A setting as text (a secret's value), '' for None."""
    if setting is None:
        return ""
    return str(setting.get_secret_value() if hasattr(setting, "get_secret_value") else setting)


def _readme_env() -> str:
    """The .env block of docs/aws.md (QUERY_DSN among its lines, as compose.aws.yml needs)."""
    block = re.search(r"```bash\n(.*?)```", SECTION, re.DOTALL)
    assert block is not None, "docs/aws.md has no .env block"
    assert re.search(r"^QUERY_DSN=", block[1], re.MULTILINE), "the block sets no QUERY_DSN"
    return block[1]


def _config(env_text: str, tmp_path: Path) -> dict[str, Any]:
    """``docker compose config`` of the AWS stack (the services ``up`` starts)."""
    return compose_config(env_text, [COMPOSE, AWS], tmp_path)


def _settings(service: dict[str, Any]) -> Settings:
    """The settings the container's program loads: what Compose sets, defaults for the
    rest (a variable named without a value and unset is absent from the container)."""
    environment = {k: v for k, v in service.get("environment", {}).items() if v is not None}
    return load_settings(**{k.lower(): v for k, v in environment.items()})


def _local_secrets() -> set[str]:
    defaults = load_settings()
    values = {defaults.aws_access_key_id or ""} | LOCAL_PASSWORDS
    for secret in (
        defaults.aws_secret_access_key,
        defaults.warehouse_dsn,
        defaults.query_dsn,
    ):
        if secret is not None:
            values.add(secret.get_secret_value())
    return values - {""}


@pytest.mark.parametrize("setting", ["QUERY_DSN", "WAREHOUSE_DSN", "KAFKA_BOOTSTRAP_SERVERS"])
def test_the_readme_block_without_a_setting_stops_compose_naming_it(
    tmp_path: Path, setting: str
) -> None:
    """docs/aws.md promises a line naming a missing setting: its block with it left out."""
    text = re.sub(rf"(?m)^{setting}=.*\n", "", _readme_env())
    with pytest.raises(AssertionError, match=setting):
        _config(text, tmp_path)


def test_no_container_gets_a_local_password_or_dsn_from_the_readme_env(tmp_path: Path) -> None:
    """With the .env of docs/aws.md, no local-stack password, key or DSN is in anything
    ``docker compose config`` shows, nor in any container's loaded settings; the
    dashboard gets the reader's DSN and never the writer's."""
    config = _config(_readme_env(), tmp_path)
    shown = json.dumps(config)
    local = _local_secrets()
    assert not [s for s in local if s in shown], "a local secret in docker compose config"
    assert set(config["services"]) == {"init", "speed", "batch", "dashboard"}
    for name, service in config["services"].items():
        settings = _settings(service)
        # The secrets Compose hands this service (set or named without a value): the
        # ones its program uses, so none may be the local stack's default.
        handed = set(service.get("environment", {})) & SECRETS
        used = {k: _value(getattr(settings, k.lower())) for k in handed}
        assert not {k: v for k, v in used.items() if v in local}, f"{name}: {used}"
        assert settings.warehouse_dialect == "redshift" and not settings.s3_endpoint_url, name
    dashboard = config["services"]["dashboard"]["environment"]
    assert "WAREHOUSE_DSN" not in dashboard and dashboard["QUERY_DSN"].startswith(
        "postgresql://lambda_reader:"
    )


def test_every_readme_value_reaches_the_containers_as_written(tmp_path: Path) -> None:
    config = _config(_readme_env(), tmp_path)
    for name, service in config["services"].items():
        for key, value in service.get("environment", {}).items():
            assert not (value or "").startswith("#"), f"{name}: {key}={value!r}"


def test_aws_keys_left_out_of_env_fall_back_to_no_local_key(tmp_path: Path) -> None:
    text = re.sub(r"(?m)^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)=.*\n", "", _readme_env())
    config = _config(text, tmp_path)
    local = _local_secrets()
    for name, service in config["services"].items():
        key = _settings(service).aws_access_key_id
        assert key not in local, f"{name}: the local stack's key id"
