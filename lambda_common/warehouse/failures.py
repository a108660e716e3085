"""How the warehouse fails, told apart: a transaction aborted only for a concurrent one
(run it again whole, with :data:`TRANSACTION_BACKOFF`) and an error said in one line."""

from __future__ import annotations

import re

import psycopg2
import psycopg2.errors

from lambda_common.retry import Backoff

# A transaction the warehouse aborted for a concurrent one (TransientError) is run again
# whole at once, a few times: the other one has usually committed by then. Jitter keeps
# the two from meeting again at the same instant.
TRANSACTION_BACKOFF = Backoff(first_s=0.2, cap_s=5.0, jitter=0.5)
TRANSACTION_ATTEMPTS = 5

# PostgreSQL's serialization_failure and deadlock_detected: the transaction was rolled back
# so that a concurrent one could commit; run again, it will likely succeed.
_RETRY_WHOLE_SQLSTATES = ("40001", "40P01")
# Redshift reports its serializable isolation violation as "ERROR: 1023 DETAIL:
# Serializable isolation violation on table ..." with SQLSTATE XX000 (internal_error);
# Amazon's advice is to retry the cancelled transaction.
_REDSHIFT_1023 = re.compile(
    r"(?:^|ERROR:\s*)1023\b|serializable isolation violation", re.IGNORECASE | re.MULTILINE
)


def is_transient(error: psycopg2.Error) -> bool:
    """Whether the warehouse aborted the transaction only for a concurrent one, so that
    running the whole transaction again will likely succeed (see ``TransientError``)."""
    if error.pgcode in _RETRY_WHOLE_SQLSTATES or isinstance(
        error, psycopg2.errors.SerializationFailure | psycopg2.errors.DeadlockDetected
    ):
        return True
    internal = error.pgcode == "XX000" or (
        error.pgcode is None and isinstance(error, psycopg2.errors.InternalError_)
    )
    return internal and bool(_REDSHIFT_1023.search(f"{error}\n{error.diag.message_detail or ''}"))


def one_line(error: BaseException, limit: int = 200) -> str:
    """An error as one short line: its first line, with the DETAIL line when the first is
    only a code (Redshift's "1023"), whitespace folded."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0]
    if text.isdigit():
        detail = next((line for line in lines[1:] if line.startswith("DETAIL:")), "")
        text = f"{text} {detail}".strip()
    return " ".join(text.split())[:limit]
