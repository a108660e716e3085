"""``python -m lambda_common init`` (make init, the Compose ``init`` service): what it
creates, in which order, its retries while a service starts, and its output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambda_common import cli, provision
from lambda_common.errors import ServiceUnavailable
from lambda_common.settings import Settings, load_settings


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return load_settings()


class Fakes:
    """Stand-ins for the three adapters; ``down`` counts failures to give before working."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, down: int = 0) -> None:
        self.calls: list[str] = []
        self.down = down
        self.topic_created = True
        fakes = self

        def ensure_topic(settings: Settings) -> bool:
            fakes._step("topic")
            return fakes.topic_created

        class Store:
            def __init__(self, settings: Settings) -> None:
                pass

            def ensure_bucket(self) -> bool:
                fakes._step("bucket")
                return False

        class Warehouse:
            where = "postgresql://lambda:***@localhost:5439/lambda"

            def __init__(self, settings: Settings) -> None:
                pass

            def __enter__(self) -> Warehouse:
                return self

            def __exit__(self, *exc: object) -> None:
                fakes.calls.append("closed")

            def ensure_schema(self) -> None:
                fakes._step("schema")

        monkeypatch.setattr(provision, "ensure_topic", ensure_topic)
        monkeypatch.setattr(provision, "S3ObjectStore", Store)
        monkeypatch.setattr(provision, "Warehouse", Warehouse)
        monkeypatch.setattr(provision.time, "sleep", lambda s: fakes.calls.append(f"sleep {s:g}"))

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            self.down -= 1
            raise ServiceUnavailable(f"{name}: connection refused")


def test_creates_topic_bucket_and_schema_one_line_each(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes(monkeypatch)
    lines = list(provision.provision(settings))
    assert fakes.calls == ["topic", "bucket", "schema", "closed"]
    assert lines == [
        "kafka      topic 'tweets' created (3 partitions) at localhost:9092",
        "s3         bucket s3://lambda-tweets present at http://localhost:9000",
        "warehouse  tables and serving_view ready in postgres at "
        "postgresql://lambda:***@localhost:5439/lambda",
    ]
    fakes.topic_created = False
    assert "topic 'tweets' present" in next(provision.provision(settings))


def test_retries_a_service_that_is_starting(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fakes = Fakes(monkeypatch, down=3)
    assert len(list(provision.provision(settings))) == 3
    assert fakes.calls[:7] == ["topic", "sleep 1", "topic", "sleep 2", "topic", "sleep 4", "topic"]


def test_gives_up_after_the_timeout(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    Fakes(monkeypatch, down=1000)
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    with pytest.raises(ServiceUnavailable, match="topic: connection refused"):
        list(provision.provision(settings, timeout_s=10, clock=clock))


def test_cli_init_prints_the_lines(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, Any] = {}

    def fake(settings: Settings, *, timeout_s: float) -> list[str]:
        seen["timeout"] = timeout_s
        return ["one", "two"]

    monkeypatch.setattr(provision, "provision", fake)
    assert cli.main(["init", "--timeout", "5"]) == 0
    assert capsys.readouterr().out == "one\ntwo\n"
    assert seen == {"timeout": 5.0}


def test_cli_init_failure_is_one_line_exit_1(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(settings: Settings, *, timeout_s: float) -> list[str]:
        raise ServiceUnavailable("Kafka at localhost:9092 is unreachable")

    monkeypatch.setattr(provision, "provision", fail)
    assert cli.main(["init"]) == 1
    assert capsys.readouterr().err == "error: Kafka at localhost:9092 is unreachable\n"
