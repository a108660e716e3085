"""Which ``KAFKA_CLIENT`` each fault scenario runs under, and where (``make test`` or
only ``make chaos``): ``tests.chaos.conftest.client_params`` from a scenario's marks."""

from __future__ import annotations

from tests.chaos.conftest import client_params


def _plan(*marks: str) -> dict[str, list[str]]:
    """Each client a scenario with these marks runs under, with the marks its run gets."""
    return {
        str(param.values[0]): [mark.name for mark in param.marks] for param in client_params(marks)
    }


def test_a_scenario_runs_under_both_clients_the_second_in_make_chaos_only() -> None:
    assert _plan() == {"kafka-python": [], "confluent": ["chaos_only"]}
    # Marks that say nothing about clients change nothing.
    assert _plan("timeout", "parametrize") == _plan()


def test_confluent_in_make_test_runs_it_under_both_in_make_test() -> None:
    assert _plan("confluent_in_make_test") == {"kafka-python": [], "confluent": []}


def test_kafka_python_only_drops_the_other_client() -> None:
    assert _plan("kafka_python_only") == {"kafka-python": []}


def test_each_run_is_named_after_its_client() -> None:
    assert [param.id for param in client_params([])] == ["kafka-python", "confluent"]
