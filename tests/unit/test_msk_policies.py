"""The Amazon MSK (IAM access control) part of aws/iam/ against the code, both ways.

With ``KAFKA_SASL_MECHANISM=AWS_MSK_IAM`` every Kafka request of a process is authorized
by its IAM policy's ``kafka-cluster:*`` actions. The kafka-python calls of each process
are found in the source like the S3 calls (``tests/unit/code_scan.py``: names bound to
an admin client, consumer or producer), mapped to the Kafka requests they send and those
to MSK's actions (``KAFKA_ACTIONS``), completed with the actions MSK requires beside them
(``MSK_REQUIRES``); the speed job's Kafka source is Spark's. confluent-kafka is left out:
it cannot sign AWS_MSK_IAM (the settings refuse the pair), so it never runs under these
policies.

Sources: Amazon MSK, "Semantics of IAM authorization policy actions and resources"
(https://docs.aws.amazon.com/msk/latest/developerguide/kafka-actions.html): each action,
the Kafka ACL it stands for, the actions it requires and its resource type; Apache
Kafka's authorization of each request (https://kafka.apache.org/documentation/#operations_in_kafka).
"""

from __future__ import annotations

import ast
import re

import pytest

from tests.unit.code_scan import CodeIndex, FunctionDef, terminal
from tests.unit.test_iam_policies import IDENTITIES, Identity, _grants, _packages

CLIENT_CLASSES = {"KafkaAdminClient", "KafkaConsumer", "KafkaProducer"}

# kafka-python method -> the MSK actions of the requests it sends (Connect is added to
# every use). Metadata and ListOffsets are DESCRIBE on the topic; OffsetFetch DESCRIBE on
# the group and the topic; OffsetCommit READ on both; OffsetDelete DELETE on the group
# and READ on the topic; Produce WRITE on the topic; CreateTopics CREATE; the
# DescribeCluster request DESCRIBE on the cluster.
KAFKA_ACTIONS: dict[str, frozenset[str]] = {
    name: frozenset(f"kafka-cluster:{a}" for a in actions)
    for name, actions in {
        # KafkaAdminClient
        "list_topics": {"DescribeTopic"},
        "describe_topics": {"DescribeTopic"},
        "describe_cluster": {"DescribeCluster"},
        "create_topics": {"CreateTopic"},
        "create_partitions": {"AlterTopic"},
        "delete_topics": {"DeleteTopic"},
        "describe_configs": {"DescribeTopicDynamicConfiguration"},
        "alter_configs": {"AlterTopicDynamicConfiguration"},
        "list_partition_offsets": {"DescribeTopic"},
        "list_group_offsets": {"DescribeGroup", "DescribeTopic"},
        "list_consumer_group_offsets": {"DescribeGroup", "DescribeTopic"},
        "describe_consumer_groups": {"DescribeGroup"},
        "delete_consumer_groups": {"DeleteGroup"},
        "delete_group_offsets": {"DeleteGroup", "ReadData"},
        # KafkaConsumer (assign/seek/position after a seek only move the client's own
        # position; poll fetches)
        "beginning_offsets": {"DescribeTopic"},
        "end_offsets": {"DescribeTopic"},
        "offsets_for_times": {"DescribeTopic"},
        "partitions_for_topic": {"DescribeTopic"},
        "committed": {"DescribeGroup", "DescribeTopic"},
        "commit": {"AlterGroup", "ReadData"},
        "commit_async": {"AlterGroup", "ReadData"},
        "subscribe": {"AlterGroup", "DescribeTopic"},
        "poll": {"ReadData", "DescribeTopic"},
        "assign": set(),
        "seek": set(),
        "position": set(),
        # KafkaProducer
        "send": {"WriteData", "DescribeTopic"},
        "flush": set(),
        # every client
        "close": set(),
    }.items()
}
# The producer with enable_idempotence (its InitProducerId request).
IDEMPOTENT = frozenset({"kafka-cluster:WriteDataIdempotently"})
# Spark's Kafka source: its admin client describes the topic and lists offsets, its
# consumers fetch under groups named spark-kafka-source-... (MSK's "consume data" case).
SPARK_SOURCE = frozenset(
    f"kafka-cluster:{a}" for a in ("DescribeTopic", "ReadData", "DescribeGroup", "AlterGroup")
)
KAFKA = "kafka-cluster:"
CONNECT = f"{KAFKA}Connect"

# MSK's "Required actions" column: an action granted without these does not work.
MSK_REQUIRES: dict[str, set[str]] = {
    f"kafka-cluster:{action}": {f"kafka-cluster:{r}" for r in required}
    for action, required in {
        "Connect": set(),
        "DescribeCluster": {"Connect"},
        "AlterCluster": {"Connect", "DescribeCluster"},
        "DescribeClusterDynamicConfiguration": {"Connect"},
        "AlterClusterDynamicConfiguration": {"Connect", "DescribeClusterDynamicConfiguration"},
        "WriteDataIdempotently": {"Connect", "WriteData"},
        "CreateTopic": {"Connect"},
        "DescribeTopic": {"Connect"},
        "AlterTopic": {"Connect", "DescribeTopic"},
        "DeleteTopic": {"Connect", "DescribeTopic"},
        "DescribeTopicDynamicConfiguration": {"Connect"},
        "AlterTopicDynamicConfiguration": {"Connect", "DescribeTopicDynamicConfiguration"},
        "ReadData": {"Connect", "DescribeTopic", "AlterGroup"},
        "WriteData": {"Connect", "DescribeTopic"},
        "DescribeGroup": {"Connect"},
        "AlterGroup": {"Connect", "DescribeGroup"},
        "DeleteGroup": {"Connect", "DescribeGroup"},
    }.items()
}
# The resource type each action is granted on (MSK's "Required resources").
RESOURCE_TYPE = {
    action: "cluster"
    if action.split(":")[1] in {"Connect", "WriteDataIdempotently"} or "Cluster" in action
    else "group"
    if "Group" in action
    else "topic"
    for action in MSK_REQUIRES
}


def _names_of_clients(index: CodeIndex) -> set[str]:
    """Names bound to a kafka-python client anywhere: annotated with its class, assigned
    one built (directly or by a project function returning one), or a method/property
    returning one (``self.consumer``)."""
    returning = {
        f.name
        for f, node in index.functions.items()
        if node.returns is not None and _mentions(node.returns, CLIENT_CLASSES)
    }
    names = set(returning)
    for module in index.modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.arg) and node.annotation is not None:
                if _mentions(node.annotation, CLIENT_CLASSES):
                    names.add(node.arg)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                called = terminal(node.value.func)
                if called in CLIENT_CLASSES or called in returning:
                    names.update(n for t in node.targets if (n := terminal(t)))
    return names


def _mentions(node: ast.expr, names: set[str]) -> bool:
    return any(terminal(n) in names for n in ast.walk(node) if isinstance(n, ast.expr))


def _uses_confluent(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Import | ast.ImportFrom)
        and any(
            (getattr(n, "module", None) or a.name).startswith("confluent_kafka") for a in n.names
        )
        for n in ast.walk(node)
    )


@pytest.fixture(scope="module")
def index() -> CodeIndex:
    return CodeIndex(_packages())


def _finder(index: CodeIndex) -> tuple[set[str], set[str]]:
    """(client names, modules built on confluent-kafka: importing it at their top; a
    function importing it inside is left out alone)."""
    confluent = {
        name
        for name, m in index.modules.items()
        if any(
            _uses_confluent(s) for s in m.tree.body if isinstance(s, ast.Import | ast.ImportFrom)
        )
    }
    return _names_of_clients(index), confluent


def _kafka_uses(index: CodeIndex) -> dict[str, set[str]]:
    """Function (str) -> the kafka uses it makes directly: ``m`` for a client method,
    ``producer`` for a KafkaProducer built, ``spark-source`` for Spark's Kafka source."""
    clients, confluent_modules = _finder(index)

    def find(node: FunctionDef) -> set[str]:
        if _uses_confluent(node):
            return set()
        found: set[str] = set()
        for call in ast.walk(node):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            if terminal(func) == "KafkaProducer":
                found.add("producer")
            if isinstance(func, ast.Attribute):
                first = [a.value for a in call.args[:1] if isinstance(a, ast.Constant)]
                if func.attr == "format" and first == ["kafka"]:
                    found.add("spark-source")
                elif terminal(func.value) in clients:
                    found.add(func.attr)
        return found

    return {
        str(f): used for f, used in index.uses(find).items() if f.module not in confluent_modules
    }


@pytest.fixture(scope="module")
def uses(index: CodeIndex) -> dict[str, set[str]]:
    return _kafka_uses(index)


def _required(
    index: CodeIndex, uses: dict[str, set[str]], identity: Identity
) -> dict[str, list[str]]:
    seen = index.reachable(index.in_packages(*identity.entry))
    need: dict[str, list[str]] = {}
    for function in seen:
        for use in sorted(uses.get(str(function), set())):
            if use == "producer":
                text = index.modules[function.module].path.read_text()
                idempotent = re.search(r"[\"']?enable[._]idempotence[\"']?\s*[:=]\s*True", text)
                actions = IDEMPOTENT if idempotent else frozenset()
            elif use == "spark-source":
                actions = SPARK_SOURCE
            else:
                assert use in KAFKA_ACTIONS, (
                    f"{index.where(function)} calls Kafka {use!r}, which KAFKA_ACTIONS does "
                    "not map to MSK actions yet: add it from MSK's and Kafka's pages"
                )
                actions = KAFKA_ACTIONS[use]
            for action in {CONNECT, *actions}:
                need.setdefault(action, []).append(f"{index.path(seen, function)}: {use}")
    # What MSK requires beside each action.
    todo = list(need)
    while todo:
        for required in MSK_REQUIRES[todo.pop()]:
            if required not in need:
                need[required] = ["required by MSK beside another action"]
                todo.append(required)
    return need


def test_the_scan_finds_the_kafka_clients(index: CodeIndex, uses: dict[str, set[str]]) -> None:
    """The scan reads the code it checks (one that found nothing would pass any policy)."""
    clients, confluent = _finder(index)
    assert {"admin", "consumer"} <= clients
    assert {"lambda_common.kafka.eventlog_confluent", "ingestion.producer_confluent"} <= confluent
    found = set().union(*uses.values())
    assert {"create_topics", "commit", "poll", "send", "producer", "spark-source"} <= found


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_each_process_policy_grants_exactly_the_msk_actions_its_code_uses(
    name: str, index: CodeIndex, uses: dict[str, set[str]]
) -> None:
    identity = IDENTITIES[name]
    need = _required(index, uses, identity)
    granted = _grants(identity.policy, KAFKA)
    missing, unused = set(need) - set(granted), set(granted) - set(need)
    assert not missing, f"{identity.policy} lacks {sorted(missing)}, needed by " + "; ".join(
        need[a][0] for a in sorted(missing)
    )
    assert not unused, f"{identity.policy} grants {sorted(unused)}, unused by the {name}"


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_each_msk_action_is_granted_on_its_resource_type(name: str) -> None:
    for action, resources in _grants(IDENTITIES[name].policy, KAFKA).items():
        for resource in resources:
            assert f":{RESOURCE_TYPE[action]}/" in resource, f"{name}: {action} on {resource}"


def test_the_mapping_covers_no_action_msk_does_not_define() -> None:
    defined = set(MSK_REQUIRES)
    used = {a for actions in KAFKA_ACTIONS.values() for a in actions}
    assert used | IDEMPOTENT | SPARK_SOURCE | {CONNECT} <= defined
