"""The pipeline topic's durability: KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS,
checked at start-up, and what ``ensure_topic`` creates the topic with (a fake admin)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambda_common import retry as retry_module
from lambda_common.errors import ConfigError, ServiceUnavailable
from lambda_common.kafka import broker as broker_module
from lambda_common.kafka.broker import ensure_topic, topic_durability, wait_for_partitions
from lambda_common.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer .env or exported variable leaks into these tests."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(local_stack_dir=tmp_path, **overrides)


# --- Settings ------------------------------------------------------------------------------


def test_min_insync_replicas_may_not_exceed_the_replication_factor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "3")
    with pytest.raises(
        ConfigError,
        match=r"^invalid setting KAFKA_MIN_INSYNC_REPLICAS: must not exceed "
        r"KAFKA_REPLICATION_FACTOR \(2\)",
    ):
        load_settings()
    monkeypatch.setenv("KAFKA_MIN_INSYNC_REPLICAS", "2")
    settings = load_settings()
    assert (settings.kafka_replication_factor, settings.kafka_min_insync_replicas) == (2, 2)


# --- The topic's durability ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_unset_durability_follows_the_live_brokers(
    tmp_path: Path, brokers: int, expected: tuple[int, int]
) -> None:
    assert topic_durability(_settings(tmp_path), brokers) == expected


def test_durability_settings_win(tmp_path: Path) -> None:
    settings = _settings(tmp_path, kafka_replication_factor=3, kafka_min_insync_replicas=3)
    assert topic_durability(settings, 5) == (3, 3)
    assert topic_durability(_settings(tmp_path, kafka_replication_factor=2), 3) == (2, 1)
    assert topic_durability(_settings(tmp_path, kafka_min_insync_replicas=1), 3) == (3, 1)


def test_a_factor_the_cluster_cannot_hold_is_unavailable_and_names_the_setting(
    tmp_path: Path,
) -> None:
    # Unavailable, not a config error: a broker of the cluster may still be starting,
    # and make init retries until its deadline.
    with pytest.raises(ServiceUnavailable, match="KAFKA_REPLICATION_FACTOR=3 needs 3 live"):
        topic_durability(_settings(tmp_path, kafka_replication_factor=3), 1)
    with pytest.raises(ServiceUnavailable, match="no live broker"):
        topic_durability(_settings(tmp_path), 0)


def test_a_minimum_above_the_derived_factor_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KAFKA_MIN_INSYNC_REPLICAS: 2 exceeds") as info:
        topic_durability(_settings(tmp_path, kafka_min_insync_replicas=2), 1)
    assert "\n" not in str(info.value)


class FakeAdmin:
    """The admin client calls ``ensure_topic`` makes, recorded."""

    def __init__(self, topics: list[str], brokers: int) -> None:
        self.topics = topics
        self.brokers = brokers
        self.created: list[Any] = []
        self.closed = False
        self.lagging = 0
        self.described = 0

    def list_topics(self) -> list[str]:
        return self.topics

    def describe_cluster(self) -> dict[str, Any]:
        return {"brokers": [{"node_id": i} for i in range(1, self.brokers + 1)]}

    def create_topics(self, topics: list[Any]) -> None:
        self.created.extend(topics)

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        """What a broker says of a topic: nothing for the first ``lagging`` asks, as a
        broker that has not yet read the controller's record of it."""
        self.described += 1
        if self.described <= self.lagging:
            return [{"name": names[0], "error_code": 3, "partitions": []}]
        (topic,) = (t for t in self.created if t.name == names[0])
        return [
            {
                "name": topic.name,
                "error_code": 0,
                "partitions": [
                    {"partition_index": i, "leader_id": 1} for i in range(topic.num_partitions)
                ],
            }
        ]

    def close(self) -> None:
        self.closed = True


def test_ensure_topic_creates_with_the_durability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = FakeAdmin([], brokers=3)
    monkeypatch.setattr(broker_module, "admin_client", lambda settings: admin)
    assert ensure_topic(_settings(tmp_path), partitions=6) is True
    (topic,) = admin.created
    assert (topic.name, topic.num_partitions, topic.replication_factor) == ("tweets", 6, 3)
    assert topic.topic_configs == {"min.insync.replicas": "2"}
    assert admin.closed and admin.described == 1


def test_ensure_topic_leaves_an_existing_topic_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = FakeAdmin(["tweets"], brokers=1)
    monkeypatch.setattr(broker_module, "admin_client", lambda settings: admin)
    assert ensure_topic(_settings(tmp_path, kafka_replication_factor=3)) is False
    assert admin.created == [] and admin.closed


def test_a_created_topic_is_awaited_until_its_brokers_list_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = FakeAdmin([], brokers=3)
    admin.lagging = 2
    monkeypatch.setattr(broker_module, "admin_client", lambda settings: admin)
    monkeypatch.setattr(retry_module, "pause", lambda delay, stop, sleep: False)
    assert ensure_topic(_settings(tmp_path), partitions=3) is True
    assert admin.described == 3


def test_a_topic_that_never_reaches_the_brokers_fails_in_one_line() -> None:
    admin = FakeAdmin([], brokers=3)
    admin.lagging = 10**6
    now = [0.0]
    with pytest.raises(ServiceUnavailable) as info:
        wait_for_partitions(
            admin,
            "tweets",
            3,
            timeout_s=5.0,
            clock=lambda: now[0],
            sleep=lambda s: now.__setitem__(0, now[0] + s),
        )
    assert str(info.value) == (
        "Kafka topic 'tweets' was created but its 3 partitions had no leaders after 5 s"
    )
    assert now[0] <= 5.0 and admin.described > 5
