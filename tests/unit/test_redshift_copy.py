"""The Redshift COPY path against a recording fake connection: which COPY file and
credentials, the manifest, and what a failed COPY does (rollback on its own connection,
SYS_LOAD_ERROR_DETAIL read there, one-line error without any credential, connection
still usable)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import psycopg2
import psycopg2.errors
import pytest

from batch_layer.landing import LandedObject, Message, encode_chunk, upgrade_master_object
from batch_layer.load import BatchWarehouse, LoadError
from batch_layer.redshift_copy import (
    CopyFailed,
    copy_command,
    copy_objects,
    copy_sql,
    describe_load_errors,
    manifest_body,
    manifest_key,
    redact,
)
from lambda_common.errors import ConfigError, ServiceUnavailable, TransientError
from lambda_common.objectstore import InMemoryObjectStore
from lambda_common.settings import Settings, load_settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Warehouse
from tests.unit.fake_connection import FakeConnection
from tests.unit.test_landed import EDGES, NOW, older_form

KEY_ID = "AKIAEXAMPLEKEYID0001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//SESSIONTOKEN=="
ROLE = "arn:aws:iam::123456789012:role/copy"
HISTORY, DETAIL, COPY_COUNT = (
    statements(load_sql(name, "redshift"))[0]
    for name in ("copy_history", "copy_rejects", "copy_count")
)
FAILED_COPY = 9  # the query_id of the failed COPY in SYS_LOAD_HISTORY
CYCLE = "20240101T000000-0.0"
LINES = 20  # the lines _objects() hold


def _settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "warehouse_dialect": "redshift",
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
        "redshift_iam_role": None,
    }
    return load_settings(**(base | overrides))


def _event(i: int) -> bytes:
    return EDGES[i].to_json_bytes()


def _copy_statement(mode: str) -> str:
    return copy_sql(mode)


def _objects() -> list[LandedObject]:
    return [
        LandedObject(f"master/tweets/p={p}/{p:04d}.jsonl.gz", "tweets", p, 0, 9, 10, 0)
        for p in (0, 1)
    ]


class _Setup:
    """A Redshift warehouse on a fake connection, an in-memory bucket, a batch target."""

    def __init__(self, settings: Settings, rows: list[tuple[Any, ...]] | None = None) -> None:
        self.settings = settings
        # The COPY loads every line unless a test says otherwise; a failed one is the
        # session's newest in SYS_LOAD_HISTORY when it got to reject ``rows`` (file, line,
        # column, reason), whose error code is 1200.
        history = [(FAILED_COPY, 0, len(rows))] if rows else []
        details = [(f, n, c, 1200, r) for f, n, c, r in rows or []]
        self.conn = FakeConnection({HISTORY: history, DETAIL: details, COPY_COUNT: [(LINES,)]})
        self.warehouse = Warehouse(settings)
        self.warehouse._conn = self.conn  # type: ignore[assignment]
        self.store = InMemoryObjectStore()
        self.store.ensure_bucket()
        self.batch = BatchWarehouse(settings, self.warehouse, self.store)

    def fail_copy(self, name: str, error: psycopg2.Error) -> None:
        self.conn.fail_on = (_copy_statement(name), error)


# The COPY files and their credentials ---------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "name", "credentials"),
    [
        ({"redshift_iam_role": ROLE}, "role", {"iam_role": ROLE}),
        (
            {"aws_session_token": None},
            "keys",
            {"access_key_id": KEY_ID, "secret_access_key": SECRET},
        ),
        (
            {},
            "session",
            {"access_key_id": KEY_ID, "secret_access_key": SECRET, "session_token": TOKEN},
        ),
    ],
)
def test_the_copy_takes_the_role_else_the_keys_and_the_token_as_bound_parameters(
    overrides: dict[str, Any], name: str, credentials: dict[str, str]
) -> None:
    chosen, params = copy_command(_settings(**overrides), "s3://b/manifests/c.manifest.json")
    assert chosen == name
    assert params == {
        "manifest": "s3://b/manifests/c.manifest.json",
        "region": "us-east-1",
        "max_errors": 100,
        **credentials,
    }
    text = _copy_statement(name)
    # Every parameter is bound where the file expects it, and nothing else is.
    assert set(re.findall(r"%\((\w+)\)s", text)) == set(params)
    for value in credentials.values():
        assert value not in text


@pytest.mark.parametrize(
    "overrides",
    [
        {"aws_access_key_id": "", "aws_secret_access_key": ""},
        {"aws_secret_access_key": ""},
    ],
)
def test_without_a_role_or_both_keys_the_copy_is_a_configuration_error(
    overrides: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="REDSHIFT_IAM_ROLE, or AWS_ACCESS_KEY_ID") as caught:
        copy_command(_settings(**overrides), "s3://b/m")
    assert KEY_ID not in str(caught.value) and TOKEN not in str(caught.value)


def test_the_manifest_lists_every_object_as_mandatory() -> None:
    store = InMemoryObjectStore("bucket")
    body = json.loads(manifest_body(store, _objects()))
    assert body == {
        "entries": [
            {"url": "s3://bucket/master/tweets/p=0/0000.jsonl.gz", "mandatory": True},
            {"url": "s3://bucket/master/tweets/p=1/0001.jsonl.gz", "mandatory": True},
        ]
    }
    assert manifest_key(CYCLE) == f"manifests/{CYCLE}.manifest.json"


# A COPY that succeeds ------------------------------------------------------------------


def test_a_copy_writes_its_manifest_and_runs_in_the_callers_transaction(
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup = _Setup(_settings())
    caplog.set_level(logging.DEBUG)
    with setup.warehouse.transaction() as cur:
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    # All the lines loaded: one look at the count, none at the system views.
    assert setup.conn.statements == [_copy_statement("session"), COPY_COUNT]
    (_, params) = setup.conn.executed[0]
    assert params["manifest"] == f"s3://test-bucket/manifests/{CYCLE}.manifest.json"
    assert params["session_token"] == TOKEN
    assert f"manifests/{CYCLE}.manifest.json" in setup.store.objects
    assert (setup.conn.commits, setup.conn.rollbacks) == (1, 0)
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in caplog.text


def test_a_cycle_copies_an_object_an_earlier_version_landed_through_its_upgraded_copy() -> None:
    setup = _Setup(_settings())
    messages = [Message(i, 0, _event(i)) for i in range(3)]
    chunks = [encode_chunk("tweets", p, 0, 2, messages, NOW) for p in (0, 1)]
    for chunk in chunks:
        setup.store.put(chunk.landed.key, chunk.body)
    older = chunks[1].landed
    setup.store.put(older.key, older_form(chunks[1].body))
    older.older_form = True
    setup.conn.answers[COPY_COUNT] = [(6,)]
    with setup.warehouse.transaction() as cur:
        setup.batch.staging._stage_redshift(cur, [chunks[0].landed, older], CYCLE, None)
    derived = f"derived/v3/{older.key}"
    assert setup.store.objects[derived] == upgrade_master_object(older_form(chunks[1].body))
    assert setup.store.objects[derived] == chunks[1].body  # the lines this version writes
    manifest = json.loads(setup.store.objects[f"manifests/{CYCLE}.manifest.json"])
    assert [e["url"].removeprefix("s3://test-bucket/") for e in manifest["entries"]] == [
        chunks[0].landed.key,
        derived,
    ]


# A COPY that fails ---------------------------------------------------------------------


def test_a_failed_copy_is_rolled_back_and_explained_on_its_own_connection() -> None:
    rows = [
        (
            "s3://test-bucket/master/tweets/p=0/0000.jsonl.gz" + " " * 40,
            3,
            "followers_count" + " " * 20,
            "Invalid digit, Value 'x', Pos 0, Type: Long" + " " * 100,
        ),
        ("s3://test-bucket/master/tweets/p=1/0001.jsonl.gz", 7, "", "Missing newline"),
    ]
    setup = _Setup(_settings(), rows)
    setup.fail_copy(
        "session",
        psycopg2.errors.InternalError_(
            "Load into table 'staging_tweets' failed.  Check 'sys_load_error_detail' "
            "system table for details.\nDETAIL: ..."
        ),
    )
    with pytest.raises(LoadError) as caught, setup.warehouse.transaction() as cur:
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    message = str(caught.value)
    assert message == (
        f"Redshift COPY of manifests/{CYCLE}.manifest.json failed: Load into table "
        "'staging_tweets' failed. Check 'sys_load_error_detail' system table for details. "
        "DETAIL: ...; SYS_LOAD_ERROR_DETAIL: "
        "s3://test-bucket/master/tweets/p=0/0000.jsonl.gz line 3 column followers_count: "
        "Invalid digit, Value 'x', Pos 0, Type: Long; "
        "s3://test-bucket/master/tweets/p=1/0001.jsonl.gz line 7 column -: Missing newline"
    )
    assert "\n" not in message
    # The COPY, then (after our rollback, on the same connection) the load errors: the
    # session's newest COPY, and the first five rows it rejected.
    assert setup.conn.statements == [_copy_statement("session"), HISTORY, DETAIL]
    assert setup.conn.executed[1][1] is None  # nothing bound into the history query
    assert setup.conn.executed[2][1] == {"query_id": FAILED_COPY, "limit": 5}
    # Ours, then the transaction context's own (harmless on an idle connection).
    assert (setup.conn.commits, setup.conn.rollbacks) == (0, 2)
    assert isinstance(caught.value.__cause__, CopyFailed)
    # The connection is still the warehouse's, and usable.
    setup.conn.answers["SELECT 1"] = [(1,)]
    assert setup.warehouse.query("SELECT 1") == [(1,)]
    assert setup.warehouse._conn is setup.conn
    assert setup.conn.commits == 1


def test_no_credential_reaches_the_error_message_even_if_the_server_echoes_it() -> None:
    setup = _Setup(_settings(), [("s3://b/k", 1, "c", f"odd {SECRET} reason")])
    setup.fail_copy(
        "session",
        psycopg2.errors.InternalError_(
            f"S3ServiceException: key {KEY_ID} secret {SECRET} token {TOKEN} denied"
        ),
    )
    with pytest.raises(LoadError) as caught, setup.warehouse.transaction() as cur:
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    message = str(caught.value)
    for secret in (KEY_ID, SECRET, TOKEN):
        assert secret not in message
    assert "key **** secret **** token **** denied" in message
    assert "odd **** reason" in message


def test_a_copy_that_failed_before_loading_says_there_are_no_load_error_rows() -> None:
    setup = _Setup(_settings(redshift_iam_role=ROLE))
    setup.fail_copy(
        "role",
        psycopg2.errors.InternalError_("S3ServiceException:Access Denied,Status 403"),
    )
    with (
        pytest.raises(LoadError, match="Access Denied") as caught,
        setup.warehouse.transaction() as cur,
    ):
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    assert str(caught.value).endswith("no SYS_LOAD_ERROR_DETAIL rows for this session's COPY")


def test_when_the_load_errors_cannot_be_read_the_copy_error_is_still_reported() -> None:
    setup = _Setup(_settings())

    class Failing(FakeConnection):
        def cursor(self) -> Any:
            cursor = super().cursor()
            execute = cursor.execute

            def checked(statement: object, params: Any = None) -> None:
                execute(statement, params)
                if statement == HISTORY:
                    raise psycopg2.errors.InsufficientPrivilege("permission denied for relation")

            cursor.execute = checked  # type: ignore[method-assign]
            return cursor

    conn = Failing({})
    conn.fail_on = (_copy_statement("session"), psycopg2.errors.InternalError_("x"))
    setup.warehouse._conn = conn  # type: ignore[assignment]
    with pytest.raises(LoadError) as caught, setup.warehouse.transaction() as cur:
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    assert str(caught.value).endswith(
        "failed: x; could not read SYS_LOAD_ERROR_DETAIL: permission denied for relation"
    )
    # After the COPY, after the failed read, and the transaction context's.
    assert conn.rollbacks == 3


def test_a_serializable_isolation_violation_reaches_the_retry_as_a_transient_error() -> None:
    setup = _Setup(_settings())
    violation = psycopg2.errors.InternalError_(
        "1023\nDETAIL:  Serializable isolation violation on table - 100123, transactions "
        "forming the cycle are: 5001, 5002 (pid:1234)"
    )
    setup.fail_copy("session", violation)
    with (
        pytest.raises(TransientError) as caught,
        setup.warehouse.transaction() as cur,
    ):
        setup.batch.staging._copy_redshift(cur, _objects(), CYCLE, LINES)
    assert caught.value.__cause__ is violation
    # No load-errors read: only the transaction context rolls back.
    assert setup.conn.statements == [_copy_statement("session")]
    assert setup.conn.rollbacks == 1


def test_a_lost_connection_during_the_copy_is_the_warehouse_being_unavailable() -> None:
    class Closable(FakeConnection):
        def close(self) -> None:
            self.closed = True

    setup = _Setup(_settings())
    conn = Closable({})
    conn.fail_on = (_copy_statement("session"), psycopg2.OperationalError("gone"))
    setup.warehouse._conn = conn  # type: ignore[assignment]
    with pytest.raises(ServiceUnavailable), setup.warehouse.transaction() as cur:
        copy_objects(setup.warehouse, cur, setup.store, _objects(), CYCLE)
    # No rollback or load-errors read on a dead connection; the warehouse drops it.
    assert conn.statements == [_copy_statement("session")]
    assert (conn.rollbacks, conn.closed, setup.warehouse._conn) == (0, True, None)


# The small pieces ----------------------------------------------------------------------


def test_load_error_rows_become_one_line() -> None:
    assert describe_load_errors([]) == "no SYS_LOAD_ERROR_DETAIL rows for this session's COPY"
    assert describe_load_errors([("f  ", 2, None, " bad\nvalue ")]) == (
        "SYS_LOAD_ERROR_DETAIL: f line 2 column -: bad value"
    )


def test_redaction_replaces_longer_secrets_first() -> None:
    assert redact("a abc b", ["a", "abc", ""]) == "**** **** b"
