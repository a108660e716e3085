"""The IAM policies of aws/iam/ against the code: least privilege both ways for S3.

Every boto3 S3 call in the project's packages is found by reading the source
(``tests/unit/code_scan.py``), followed up the call graph to the processes that reach it,
and mapped to the IAM actions Amazon requires for it (``S3_ACTIONS``). Each process runs
as one identity with one policy file; the test fails when a process reaches a call whose
action its policy lacks, and when a policy grants an S3 action nothing of its process
uses. Two uses are not boto3's: the speed job's checkpoint on ``s3a://``/``s3://``
(Hadoop's file system, found by the ``checkpointLocation`` option), and Redshift's COPY
(found in the SQL files), which runs as the role of ``REDSHIFT_IAM_ROLE``.

The files are also checked as policies: the 2012-10-17 language, one form of ARN per
resource type, only the placeholders docs/aws.md names, and each action on the resource
type it applies to.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore
import botocore.session
import pytest

from batch_layer.redshift_copy import CREDENTIALS, copy_sql
from lambda_common.kafka.broker import BATCH_GROUP_ID
from tests.unit.code_scan import ROOT, CodeIndex, FunctionDef, terminal

POLICIES = ROOT / "aws" / "iam"
SQL_FOLDERS = (
    ROOT / "lambda_common" / "sql" / "common",
    ROOT / "lambda_common" / "sql" / "redshift",
)

# boto3's S3 client method -> the IAM actions it needs, from Amazon's "Required permissions
# for Amazon S3 API operations"
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html)
# and each operation's API reference (HeadBucket: s3:ListBucket,
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html). boto3's transfer
# methods (upload_*, download_*, copy) call the operations named beside them. A call
# missing here fails the test: add it from those pages.
S3_ACTIONS: dict[str, frozenset[str]] = {
    name: frozenset(actions)
    for name, actions in {
        "head_bucket": {"s3:ListBucket"},
        "create_bucket": {"s3:CreateBucket"},
        "list_buckets": {"s3:ListAllMyBuckets"},
        "get_bucket_location": {"s3:GetBucketLocation"},
        "list_objects": {"s3:ListBucket"},
        "list_objects_v2": {"s3:ListBucket"},
        "put_object": {"s3:PutObject"},
        "get_object": {"s3:GetObject"},
        "head_object": {"s3:GetObject"},
        "copy_object": {"s3:GetObject", "s3:PutObject"},
        "delete_object": {"s3:DeleteObject"},
        "delete_objects": {"s3:DeleteObject"},
        "create_multipart_upload": {"s3:PutObject"},
        "upload_part": {"s3:PutObject"},
        "complete_multipart_upload": {"s3:PutObject"},
        "abort_multipart_upload": {"s3:AbortMultipartUpload"},
        "list_parts": {"s3:ListMultipartUploadParts"},
        "list_multipart_uploads": {"s3:ListBucketMultipartUploads"},
        # CreateMultipartUpload/UploadPart/CompleteMultipartUpload, or PutObject, and an
        # abort when a part fails; downloads head the object first.
        "upload_file": {"s3:PutObject", "s3:AbortMultipartUpload"},
        "upload_fileobj": {"s3:PutObject", "s3:AbortMultipartUpload"},
        "download_file": {"s3:GetObject"},
        "download_fileobj": {"s3:GetObject"},
        "copy": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
    }.items()
}
# Methods of the client that send no request.
S3_LOCAL_METHODS = {"can_paginate", "close", "generate_presigned_post", "generate_presigned_url"}
# The S3 client's methods: one per operation of botocore's S3 model, and boto3's own.
S3_METHODS = {
    botocore.xform_name(operation)
    for operation in botocore.session.get_session().get_service_model("s3").operation_names
} | {"upload_file", "upload_fileobj", "download_file", "download_fileobj", "copy"}

# Hadoop's S3A connector writing a checkpoint: Apache Hadoop's "Restricting S3A operations
# through AWS Policies", write access
# (https://hadoop.apache.org/docs/stable/hadoop-aws/tools/hadoop-aws/assumed_roles.html),
# with its s3:Get*/s3:Put*/s3:Delete* narrowed to the object actions a file system uses.
HADOOP_CHECKPOINT = frozenset(
    {
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:AbortMultipartUpload",
    }
)
# Redshift's COPY from S3 with a manifest: LIST the bucket, GET the manifest and the
# objects (Amazon Redshift, "IAM permissions for COPY, UNLOAD, and CREATE LIBRARY",
# https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-access-permissions.html).
# UNLOAD would need PUT too: it is no statement here, and the scan below fails if one comes.
COPY_ACTIONS = frozenset({"s3:ListBucket", "s3:GetObject"})

# Actions on the bucket itself (resource arn:aws:s3:::BUCKET); the others are on objects.
BUCKET_ACTIONS = {
    "s3:ListBucket",
    "s3:CreateBucket",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketLocation",
}
# The placeholders docs/aws.md tells users to replace, and the forms of ARN they stand in.
PLACEHOLDERS = {"BUCKET", "REGION", "ACCOUNT", "MSK_CLUSTER", "TOPIC"}
ARN_FORMS = {
    "s3-bucket": re.compile(r"arn:aws:s3:::BUCKET"),
    "s3-object": re.compile(r"arn:aws:s3:::BUCKET/([a-z0-9_=/-]+/)?\*"),
    "msk-cluster": re.compile(r"arn:aws:kafka:REGION:ACCOUNT:cluster/MSK_CLUSTER/\*"),
    "msk-topic": re.compile(r"arn:aws:kafka:REGION:ACCOUNT:topic/MSK_CLUSTER/\*/TOPIC"),
    "msk-group": re.compile(r"arn:aws:kafka:REGION:ACCOUNT:group/MSK_CLUSTER/\*/[A-Za-z0-9._*-]+"),
}


@dataclass(frozen=True)
class Identity:
    """One process (or family of commands) that runs as one IAM identity."""

    policy: str
    # Where its code starts: every function of these modules (and of modules below them).
    entry: tuple[str, ...]
    why: str


IDENTITIES = {
    "batch layer": Identity(
        "batch-layer.json",
        ("batch_layer", "lambda_common.cli", "lambda_common.__main__"),
        "python -m batch_layer (every make batch-* target, recompute, rebuild-views) and "
        "python -m lambda_common (make init, make env): the pipeline's own identity",
    ),
    "speed job": Identity(
        "speed-job.json",
        ("speed_layer",),
        "python -m speed_layer / spark-submit of speed_layer/submit.py (the EMR job role)",
    ),
    "dashboard and readers": Identity(
        "dashboard-reader.json",
        ("serving_layer",),
        "python -m serving_layer (make query, make status, make dashboard)",
    ),
    "producer": Identity("producer.json", ("ingestion",), "python -m ingestion"),
}
# Packages that never run against AWS: the local stack's own servers (its S3 health check
# lists buckets of the local S3 server), the demo on the local stack, and make
# redshift-sql's dry run (an in-memory bucket and topic, a recording connection), and the
# monitoring's rule files and Prometheus (it writes files and runs Prometheus; no AWS call).
LOCAL_ONLY = {"local_stack", "lambda_demo", "lambda_dryrun", "lambda_monitoring"}
COPY_ROLE = "redshift-copy-role.json"
TRUST = "redshift-copy-role-trust.json"


def _packages() -> list[str]:
    """The packages pyproject ships (setuptools' include patterns)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]


# -- what the code calls ---------------------------------------------------------------------


def _s3_calls(node: FunctionDef) -> set[str]:
    """The boto3 S3 client methods a function calls (a paginator's or waiter's operation
    by its name), and ``boto3-resource`` for the resource API, which this scan does not
    read."""
    found: set[str] = set()
    for call in ast.walk(node):
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            continue
        attr = call.func.attr
        first = call.args[0] if call.args else None
        named = first.value if isinstance(first, ast.Constant) else None
        # A paginator or waiter named by a variable is kept as "None": unmapped, it fails.
        if attr in ("get_paginator", "get_waiter"):
            found.add(f"{attr}:{named!s}" if attr == "get_waiter" else f"{named!s}")
        elif attr == "resource" and terminal(call.func.value) == "boto3":
            found.add("boto3-resource")
        elif attr in S3_METHODS and attr not in S3_LOCAL_METHODS:
            found.add(attr)
    return found


def _checkpoints(node: FunctionDef) -> set[str]:
    """``checkpoint`` when a function gives a Spark query its checkpointLocation."""
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            args = [a.value for a in call.args[:1] if isinstance(a, ast.Constant)]
            keywords = {k.arg for k in call.keywords}
            if (call.func.attr == "option" and args == ["checkpointLocation"]) or (
                "checkpointLocation" in keywords
            ):
                return {"checkpoint"}
    return set()


def _makes_s3_client(node: FunctionDef) -> set[str]:
    """``client`` when a function builds a boto3 S3 client (``boto3.client("s3")``)."""
    for call in ast.walk(node):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "client"
            and terminal(call.func.value) == "boto3"
            and [a.value for a in call.args[:1] if isinstance(a, ast.Constant)] == ["s3"]
        ):
            return {"client"}
    return set()


@pytest.fixture(scope="module")
def index() -> CodeIndex:
    """The project read, the classes holding an S3 client taken as its object stores."""
    code = CodeIndex(_packages())
    code.mark_store_classes({f.cls for f in code.uses(_makes_s3_client) if f.cls})
    return code


def _required(index: CodeIndex, identity: Identity) -> dict[str, list[str]]:
    """IAM action -> the call paths (root -> ... -> call site: method) that need it."""
    seen = index.reachable(index.in_packages(*identity.entry))
    need: dict[str, list[str]] = {}
    s3 = index.uses(_s3_calls)
    checkpoints = index.uses(_checkpoints)
    for function in seen:
        for method in sorted(s3.get(function, set())):
            assert method in S3_ACTIONS, (
                f"{index.where(function)} calls S3 {method!r}, which S3_ACTIONS does not "
                "map to IAM actions yet: add it from Amazon's S3 API -> action page"
            )
            for action in S3_ACTIONS[method]:
                need.setdefault(action, []).append(f"{index.path(seen, function)}: {method}")
        if function in checkpoints:
            for action in HADOOP_CHECKPOINT:
                need.setdefault(action, []).append(f"{index.path(seen, function)}: checkpoint")
    return need


# -- the policies ----------------------------------------------------------------------------


def _policy(name: str) -> dict[str, Any]:
    data = json.loads((POLICIES / name).read_text())
    assert isinstance(data, dict)
    return data


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _grants(name: str, prefix: str = "s3:") -> dict[str, set[str]]:
    """Action (of the service ``prefix``) -> the resources a policy grants it on."""
    out: dict[str, set[str]] = {}
    for statement in _policy(name)["Statement"]:
        for action in _listed(statement["Action"]):
            if action.startswith(prefix):
                out.setdefault(action, set()).update(_listed(statement["Resource"]))
    return out


def _difference(required: Iterable[str], granted: Iterable[str]) -> tuple[set[str], set[str]]:
    return set(required) - set(granted), set(granted) - set(required)


def test_every_package_runs_as_a_known_identity_or_only_locally() -> None:
    """A new package must say which policy it runs under before the scan can vouch."""
    entries = {e.split(".")[0] for identity in IDENTITIES.values() for e in identity.entry}
    assert set(_packages()) == entries | LOCAL_ONLY


def test_the_scan_finds_the_object_stores_calls(index: CodeIndex) -> None:
    """The scan reads the code it checks: the S3 object store's calls are found (a scan
    that found none would let every policy pass)."""
    calls = set().union(*index.uses(_s3_calls).values())
    assert {"put_object", "get_object", "head_bucket", "list_objects_v2"} <= calls
    assert index.store_classes >= {"ObjectStore", "S3ObjectStore"}
    assert "store" in index.store_names


@pytest.mark.parametrize("name", sorted(IDENTITIES))
def test_each_process_policy_grants_exactly_the_s3_actions_its_code_uses(
    name: str, index: CodeIndex
) -> None:
    identity = IDENTITIES[name]
    need = _required(index, identity)
    missing, unused = _difference(need, _grants(identity.policy))
    assert not missing, f"{identity.policy} lacks {sorted(missing)}, needed by " + "; ".join(
        need[a][0] for a in sorted(missing)
    )
    assert not unused, (
        f"{identity.policy} grants {sorted(unused)}, which no code of the {name} uses"
    )


def test_the_copy_role_grants_exactly_what_copy_needs() -> None:
    """Every COPY the pipeline runs on Redshift reads S3 with the role (or the batch
    layer's keys, which the batch layer's policy covers); no UNLOAD writes with it."""
    statements = []
    for folder in SQL_FOLDERS:
        for path in sorted(folder.glob("*.sql")):
            text = re.sub(r"--[^\n]*", "", path.read_text())
            statements += [(path.name, s.strip()) for s in text.split(";") if s.strip()]
    # The COPY's credentials clause is filled in by the code: each as it runs.
    statements += [
        (f"copy_manifest.sql ({mode})", re.sub(r"--[^\n]*", "", copy_sql(mode)).strip())
        for mode in CREDENTIALS
    ]
    statements = [(n, s) for n, s in statements if "{credentials}" not in s]
    copies = [(n, s) for n, s in statements if re.match(r"(?i)COPY\s", s)]
    assert copies, "no COPY found: the scan reads the wrong files"
    assert not [n for n, s in statements if re.match(r"(?i)UNLOAD\s", s)]
    for name, copy in copies:
        assert re.search(r"(?i)\bFROM\s+%\(\w+\)s", copy), f"{name}: COPY from S3"
    uses_role = [n for n, s in copies if re.search(r"(?i)\bIAM_ROLE\b", s)]
    assert uses_role, "no COPY runs with REDSHIFT_IAM_ROLE"
    missing, unused = _difference(COPY_ACTIONS, _grants(COPY_ROLE))
    assert not missing and not unused, (missing, unused)
    # With keys instead of the role, COPY reads as the batch layer.
    assert set(_grants(IDENTITIES["batch layer"].policy)) >= COPY_ACTIONS


def test_the_copy_role_is_one_redshift_may_assume() -> None:
    """Amazon Redshift, "Authorizing Amazon Redshift to access other AWS services on your
    behalf": the role trusts the Redshift service (and Redshift Serverless), nothing else."""
    (statement,) = _policy(TRUST)["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert set(statement["Principal"]) == {"Service"}
    assert set(_listed(statement["Principal"]["Service"])) == {
        "redshift.amazonaws.com",
        "redshift-serverless.amazonaws.com",
    }


# -- the files as IAM policies ---------------------------------------------------------------


def _files() -> list[str]:
    return sorted(p.name for p in POLICIES.glob("*.json"))


def test_the_policy_files_are_the_ones_described() -> None:
    described = {i.policy for i in IDENTITIES.values()} | {COPY_ROLE, TRUST}
    assert set(_files()) == described


@pytest.mark.parametrize("name", _files())
def test_each_file_is_a_valid_policy_document(name: str) -> None:
    """The IAM JSON policy language: Version 2012-10-17, a Statement list of Allow
    statements with unique alphanumeric Sids; identity policies name Resources and no
    Principal, the trust policy a Principal and no Resource; no wildcard action."""
    policy = _policy(name)
    assert set(policy) == {"Version", "Statement"}
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert isinstance(statements, list) and statements
    sids = [s["Sid"] for s in statements]
    assert len(set(sids)) == len(sids) and all(re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids)
    trust = name == TRUST
    for statement in statements:
        assert statement["Effect"] == "Allow"
        allowed = {"Sid", "Effect", "Action"} | ({"Principal"} if trust else {"Resource"})
        assert set(statement) == allowed, statement["Sid"]
        for action in _listed(statement["Action"]):
            assert re.fullmatch(r"(s3|kafka-cluster|sts):[A-Za-z]+", action), action


@pytest.mark.parametrize("name", sorted(set(_files()) - {TRUST}))
def test_each_resource_is_a_placeholder_arn_of_its_actions_type(name: str) -> None:
    """Resources are written with docs/aws.md's placeholders only (nothing of an account
    of ours), in the ARN form of their service, and bucket actions on the bucket, object
    actions on objects (an action on the other type would match nothing)."""
    for statement in _policy(name)["Statement"]:
        resources = _listed(statement["Resource"])
        for resource in resources:
            words = set(re.findall(r"[A-Z][A-Z_]+", resource))
            assert words <= PLACEHOLDERS, f"{name}: {resource}"
            kinds = {k for k, form in ARN_FORMS.items() if form.fullmatch(resource)}
            assert len(kinds) == 1, f"{name}: {resource} is no ARN form known here"
            (kind,) = kinds
            for action in _listed(statement["Action"]):
                service = action.split(":")[0]
                assert kind.startswith("s3-" if service == "s3" else "msk-"), (action, resource)
                if service == "s3":
                    expected = "s3-bucket" if action in BUCKET_ACTIONS else "s3-object"
                    assert kind == expected, f"{name}: {action} on {resource}"


def test_group_arns_name_the_groups_the_code_uses() -> None:
    """The batch layer's consumer group is the code's; the speed job's are Spark's
    (spark-kafka-source-<query>-...)."""
    groups = {
        resource.rsplit("/", 1)[1]
        for name in _files()
        if name != TRUST
        for statement in _policy(name)["Statement"]
        for resource in _listed(statement["Resource"])
        if ":group/" in resource
    }
    assert groups == {BATCH_GROUP_ID, "spark-kafka-source-*"}


def test_the_checkpoint_prefix_is_the_one_the_readme_shows() -> None:
    """speed-job.json's objects are under checkpoints/, where docs/aws.md's
    SPEED_CHECKPOINT=s3://BUCKET/checkpoints/speed puts them."""
    objects = {r for rs in _grants("speed-job.json").values() for r in rs if "/" in r[13:]}
    assert objects == {"arn:aws:s3:::BUCKET/checkpoints/*"}
    page = (ROOT / "docs" / "aws.md").read_text()
    assert re.search(r"SPEED_CHECKPOINT=s3a?://[a-z0-9.-]+/checkpoints/", page)


@pytest.mark.parametrize("name", _files())
def test_placeholders_stand_only_in_resources(name: str) -> None:
    """docs/aws.md substitutes the placeholders with sed over the whole file: they must
    not stand anywhere else (a Sid, an action)."""
    policy = _policy(name)
    for statement in policy["Statement"]:
        outside = json.dumps({k: v for k, v in statement.items() if k != "Resource"})
        assert not set(re.findall(r"\b[A-Z][A-Z_]+\b", outside)) & PLACEHOLDERS, statement
