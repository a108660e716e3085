"""Loading a cycle's objects into Redshift: the COPY manifest, the COPY itself (with the
IAM role, or with access keys and an optional session token, and MAXERROR), the rows it
rejected (``copy_rejects``), and, when it fails, the reasons Redshift recorded for it.

Redshift has no ``COPY FROM STDIN``: it reads the objects from S3 itself, listed in a
manifest the cycle writes first. Credentials are bound parameters of ``copy_manifest.sql``
(its credentials clause one of :data:`CREDENTIALS`): never formatted into text, never
logged, and redacted from any error message this module makes.

A failed COPY leaves its transaction aborted. Its reasons are read on the **same**
connection after a rollback (``SYS_LOAD_ERROR_DETAIL`` of this session's newest COPY in
``SYS_LOAD_HISTORY``, found by this session's process ID, as ``copy_rejects`` finds a
successful one's): a new connection is another session, and the SYS views are what both
provisioned clusters and Serverless have.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg2

from batch_layer.copy_rejects import (
    CopyReject,
    UnaccountedRejects,
    clean,
    detail_rows,
    newest_copy,
    read_rejects,
)
from batch_layer.landing import LandedObject
from lambda_common.errors import ConfigError, LambdaError
from lambda_common.objectstore import ObjectStore
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor, Warehouse, is_transient

logger = logging.getLogger(__name__)

MANIFESTS_PREFIX = "manifests"
"""Where the cycles' COPY manifests live in the bucket."""

_MAX_DRIVER_TEXT = 300
"""How much of the driver's own message a ``CopyFailed`` keeps (it stays one line)."""

_REASONS_SHOWN = 5
"""How many of a failed COPY's rejected rows its ``CopyFailed`` names."""


class CopyFailed(LambdaError):
    """Redshift refused or failed a COPY; the message (one line) says why, from the error
    and from ``SYS_LOAD_ERROR_DETAIL``, and never holds a credential."""


def manifest_key(cycle_id: str) -> str:
    """Where a cycle's COPY manifest lives."""
    return f"{MANIFESTS_PREFIX}/{cycle_id}.manifest.json"


def manifest_body(store: ObjectStore, objects: Sequence[LandedObject]) -> bytes:
    """A Redshift COPY manifest listing the objects (all mandatory)."""
    entries = [{"url": store.uri(o.key), "mandatory": True} for o in objects]
    return json.dumps({"entries": entries}, indent=1).encode()


CREDENTIALS = {
    "role": "IAM_ROLE %(iam_role)s",
    "keys": "ACCESS_KEY_ID %(access_key_id)s\nSECRET_ACCESS_KEY %(secret_access_key)s",
    "session": (
        "ACCESS_KEY_ID %(access_key_id)s\nSECRET_ACCESS_KEY %(secret_access_key)s\n"
        "SESSION_TOKEN %(session_token)s"
    ),
}
"""The credentials clause of the COPY, by how it authorizes (its values bound)."""


def copy_sql(mode: str) -> str:
    """The COPY statement of ``copy_manifest.sql`` with the credentials clause of ``mode``
    (a key of :data:`CREDENTIALS`)."""
    (statement,) = statements(load_sql("copy_manifest", "redshift"))
    return statement.format(credentials=CREDENTIALS[mode])


def copy_command(settings: Settings, manifest_uri: str) -> tuple[str, dict[str, Any]]:
    """How the COPY authorizes (a key of :data:`CREDENTIALS`) and its parameters: ``role``
    with ``REDSHIFT_IAM_ROLE`` (what AWS recommends), else ``keys`` with the AWS access
    keys, or ``session`` when ``AWS_SESSION_TOKEN`` is set too.

    Raises ``ConfigError`` when neither a role nor both keys are set.
    """
    params: dict[str, Any] = {
        "manifest": manifest_uri,
        "region": settings.aws_region,
        "max_errors": settings.redshift_copy_maxerror,
    }
    if settings.redshift_iam_role:
        params["iam_role"] = settings.redshift_iam_role
        return "role", params
    key_id, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if not (key_id and secret):
        raise ConfigError(
            "Redshift COPY needs REDSHIFT_IAM_ROLE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary credentials)"
        )
    params["access_key_id"] = key_id
    params["secret_access_key"] = secret.get_secret_value()
    if settings.aws_session_token is None:
        return "keys", params
    params["session_token"] = settings.aws_session_token.get_secret_value()
    return "session", params


def copy_objects(
    warehouse: Warehouse,
    cur: Cursor,
    store: ObjectStore,
    objects: Sequence[LandedObject],
    cycle_id: str,
    expected: int | None = None,
) -> list[CopyReject]:
    """Write the cycle's manifest and COPY its objects into ``staging_tweets`` inside the
    caller's transaction (``cur`` belongs to ``warehouse``'s connection); return the rows
    COPY rejected (fewer than MAXERROR), each named by the object the ledger knows it by.

    ``expected``: how many lines the objects hold, when known (a cycle's, counted by
    landing): a COPY that loaded them all needs no look at the system views. Rejects that
    cannot all be accounted for (``copy_rejects``) raise ``CopyFailed``.

    On failure the transaction is rolled back here, on its own connection, to read why
    (``read_load_errors``); then ``CopyFailed`` is raised and the caller's transaction
    context rolls back again (a no-op). The connection stays usable. A lost or closed
    connection and a serializable isolation violation (Redshift's error 1023) are raised
    unchanged: the warehouse reports the first, and the second is for the caller's retry
    of the whole transaction to recognise.
    """
    key = manifest_key(cycle_id)
    mode, params = copy_command(warehouse.settings, store.uri(key))
    store.put(key, manifest_body(store, objects))
    secrets = _secret_values(params)
    logger.info("COPY of %d objects listed in %s (credentials: %s)", len(objects), key, mode)
    try:
        cur.execute(copy_sql(mode), params)
    except (psycopg2.OperationalError, psycopg2.InterfaceError):
        # No session left to read the reasons in (and warehouse.connection() would open
        # a new one): the warehouse's transaction reports the connection.
        raise
    except psycopg2.Error as e:
        if is_transient(e):
            raise
        reasons = read_load_errors(warehouse, cur)
        message = f"Redshift COPY of {key} failed: {_first_line(e)}; {reasons}"
        raise CopyFailed(redact(message, secrets)) from e
    urls = {store.uri(o.key): o.key for o in objects}
    try:
        return read_rejects(cur, urls, expected)
    except UnaccountedRejects as e:
        raise CopyFailed(redact(f"Redshift COPY of {key}: {e}", secrets)) from e


def read_load_errors(warehouse: Warehouse, cur: Cursor) -> str:
    """Roll back the failed COPY's transaction and describe its ``SYS_LOAD_ERROR_DETAIL``
    rows (file, line, column, reason) in one line.

    A failure to read them is described instead of raised: the COPY's own error is the
    one that matters. A lost connection is raised (``OperationalError``).
    """
    conn = warehouse.connection()
    # The COPY aborted the transaction: nothing more runs in it. The same connection
    # (same session, same pg_backend_pid()) is what finds this COPY's rows.
    conn.rollback()
    try:
        found = newest_copy(cur)
        details = [] if found is None else detail_rows(cur, int(found[0]), _REASONS_SHOWN)
        rows = [(file, line, column, reason) for file, line, column, _code, reason in details]
    except psycopg2.OperationalError:
        raise
    except psycopg2.Error as e:
        conn.rollback()
        return f"could not read SYS_LOAD_ERROR_DETAIL: {_first_line(e)}"
    return describe_load_errors(rows)


def describe_load_errors(rows: Iterable[Sequence[Any]]) -> str:
    """``SYS_LOAD_ERROR_DETAIL: <file> line <n> column <c>: <reason>; ...`` (one line)."""
    parts = [
        f"{clean(file)} line {line} column {clean(column) or '-'}: {clean(reason)}"
        for file, line, column, reason in rows
    ]
    if not parts:
        # E.g. access denied, a bad manifest URL or bad credentials: COPY stopped before
        # it loaded anything, so only its own error says why.
        return "no SYS_LOAD_ERROR_DETAIL rows for this session's COPY"
    return "SYS_LOAD_ERROR_DETAIL: " + "; ".join(parts)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``****``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "****")
    return text


def _secret_values(params: dict[str, Any]) -> list[str]:
    # The access key ID is not secret to AWS, but it names the account's key: kept out too.
    names = ("access_key_id", "secret_access_key", "session_token")
    return [str(params[n]) for n in names if params.get(n)]


def _first_line(error: psycopg2.Error) -> str:
    """The server's message in one line (no DSN, no statement text)."""
    diag = getattr(error, "diag", None)
    message = getattr(diag, "message_primary", None) or str(error).strip()
    return clean(message)[:_MAX_DRIVER_TEXT] or type(error).__name__
