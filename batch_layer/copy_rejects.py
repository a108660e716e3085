"""The rows Redshift's COPY rejected, kept as rejects: read, accounted for, recorded.

With MAXERROR (``REDSHIFT_COPY_MAXERROR``) a COPY that meets fewer bad rows than that
loads the others and leaves those out. None may be lost unseen, so after every COPY:

1. ``pg_last_copy_count()`` gives the rows it loaded. A cycle knows how many lines its
   objects hold (landing counted them): all loaded, nothing more to read.
2. Otherwise the COPY is found in ``SYS_LOAD_HISTORY`` (this session's newest, its
   ``loaded_rows`` equal to that count) with its ``error_count``, and its rejected rows
   in ``SYS_LOAD_ERROR_DETAIL`` by its ``query_id``: object, line, column, reason.
3. Every rejected row must be accounted for: as many detail rows as ``error_count``
   (and, in a cycle, as lines not loaded), each naming an object of the load. System
   views that do not show all of the COPY yet are read again for a few seconds; if they
   still do not, or a file name Redshift cut at 256 characters fits several objects,
   ``UnaccountedRejects``: the cycle's transaction rolls back, its offsets stay, and the
   next cycle loads the same objects again.

The rejects are then counted in ``load_ledger.rejects`` of their object (with the
messages landing quarantined, which ``make status`` reports) and recorded in
``load_rejects``, in the load's own transaction: the offsets move only once they are
committed. They never reach ``raw_tweets``, so nothing serves them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2.extras import execute_values

from batch_layer.landing import LandedObject, master_key_of
from lambda_common.errors import LambdaError
from lambda_common.retry import Backoff, retry_call
from lambda_common.sql import load_sql, statements
from lambda_common.warehouse import Cursor

logger = logging.getLogger(__name__)

_REASON_CHARS = 512
"""The longest reason kept (``load_rejects.reason``; Redshift gives at most 512)."""

SHOWN_WAIT = Backoff(first_s=0.5, cap_s=4.0)
SHOWN_ATTEMPTS = 5
"""How often the system views are read for a COPY they do not show all of yet (waits of
0.5, 1, 2 and 4 s in between), before the load fails."""


class UnaccountedRejects(LambdaError):
    """COPY rejected rows this load cannot name each of: it must not be committed."""


class _NotShownYet(UnaccountedRejects):
    """The system views do not show all of this COPY yet: worth reading again."""


@dataclass(frozen=True)
class CopyReject:
    """One row COPY rejected: the master object it is in (the ledger's key, also for a
    derived copy COPY read), its line there, the column and Redshift's error."""

    object_key: str
    line_number: int
    column_name: str
    error_code: int
    reason: str


def read_rejects(cur: Cursor, urls: Mapping[str, str], expected: int | None) -> list[CopyReject]:
    """The rows the COPY just run on ``cur`` rejected (see the module's steps).

    ``urls``: the S3 URL of each object COPY read, to the key it was listed with.
    ``expected``: how many lines the objects hold, when known (a cycle), else None.
    """
    cur.execute(_one("copy_count"))
    row = cur.fetchone()
    loaded = int(row[0]) if row else 0
    if not _rejects_possible(loaded, expected):
        return []
    return retry_call(
        lambda: _shown_rejects(cur, urls, loaded, expected),
        retry_on=_NotShownYet,
        backoff=SHOWN_WAIT,
        attempts=SHOWN_ATTEMPTS,
        what="reading the rows COPY rejected",
    )


def _shown_rejects(
    cur: Cursor, urls: Mapping[str, str], loaded: int, expected: int | None
) -> list[CopyReject]:
    query_id, errors = this_copy(newest_copy(cur), loaded, expected)
    if errors == 0:
        return []
    # One row more than the count: an extra one is as wrong as a missing one.
    rejects = attribute(detail_rows(cur, query_id, errors + 1), urls)
    if len(rejects) != errors:
        error = _NotShownYet if len(rejects) < errors else UnaccountedRejects
        raise error(
            f"COPY rejected {errors} rows but SYS_LOAD_ERROR_DETAIL lists {len(rejects)} "
            f"for its query {query_id}: not committing a load whose rejects are not all "
            "recorded (the next cycle loads the same objects again)"
        )
    return rejects


def newest_copy(cur: Cursor) -> Sequence[Any] | None:
    """``(query_id, loaded_rows, error_count)`` of this session's newest COPY in
    ``SYS_LOAD_HISTORY`` (``copy_history.sql``), None if it shows none."""
    cur.execute(_one("copy_history"))
    row: Sequence[Any] | None = cur.fetchone()
    return row


def detail_rows(cur: Cursor, query_id: int, limit: int) -> list[Sequence[Any]]:
    """The first ``limit`` rows a COPY rejected, from ``SYS_LOAD_ERROR_DETAIL``: (file,
    line, column, error code, reason), padded as Redshift gives them."""
    cur.execute(_one("copy_rejects"), {"query_id": query_id, "limit": limit})
    return list(cur.fetchall())


def _rejects_possible(loaded: int, expected: int | None) -> bool:
    """Whether the COPY may have rejected rows; ``UnaccountedRejects`` if it loaded more
    rows than the objects hold (then the objects are not what the cycle counted)."""
    if expected is None:
        return True
    if loaded > expected:
        raise UnaccountedRejects(
            f"COPY loaded {loaded} rows from objects holding {expected}: not committing"
        )
    return loaded < expected


def this_copy(history: Sequence[Any] | None, loaded: int, expected: int | None) -> tuple[int, int]:
    """``(query_id, rejected rows)`` of the COPY ``copy_history.sql`` found, once it is
    shown to be the COPY that loaded ``loaded`` rows (and rejected the lines a cycle
    counted but COPY did not load); ``UnaccountedRejects`` otherwise."""
    if history is None or int(history[1]) != loaded:
        found = "no COPY" if history is None else f"a COPY that loaded {int(history[1])} rows"
        raise _NotShownYet(
            f"SYS_LOAD_HISTORY shows {found} as this session's newest, not the one that "
            f"loaded {loaded}: its rejects cannot be read yet (the next cycle tries again)"
        )
    query_id, errors = int(history[0]), int(history[2])
    if expected is not None and errors != expected - loaded:
        raise _NotShownYet(
            f"COPY loaded {loaded} of {expected} rows but SYS_LOAD_HISTORY counts {errors} "
            f"errors for its query {query_id}: not committing"
        )
    return query_id, errors


def attribute(rows: Iterable[Sequence[Any]], urls: Mapping[str, str]) -> list[CopyReject]:
    """The detail rows (file, line, column, code, reason) as rejects of master objects.

    A file is the URL of an object COPY read; Redshift keeps 256 characters of it, so a
    longer one is matched by its start, when that fits exactly one object."""
    rejects = []
    for file_name, line, column, code, reason in rows:
        listed = _object_of(clean(file_name), urls)
        rejects.append(
            CopyReject(
                object_key=master_key_of(listed),
                line_number=int(line),
                column_name=clean(column),
                error_code=int(code),
                reason=clean(reason)[:_REASON_CHARS],
            )
        )
    return rejects


def _object_of(file_name: str, urls: Mapping[str, str]) -> str:
    if file_name in urls:
        return urls[file_name]
    fits = [key for url, key in urls.items() if file_name and url.startswith(file_name)]
    if len(fits) != 1:
        raise UnaccountedRejects(
            f"COPY rejected a row of {file_name!r}, which names "
            f"{'no' if not fits else len(fits)} objects of the load"
        )
    return fits[0]


def count_by_object(rejects: Iterable[CopyReject]) -> Counter[str]:
    """How many rows COPY rejected of each master object."""
    return Counter(r.object_key for r in rejects)


def settle(objects: Iterable[LandedObject], rejects: Sequence[CopyReject], *, landed: bool) -> None:
    """Count each object's rejected rows as rejects in its ledger row: moved out of
    ``events`` too when ``landed`` (events counted the object's lines, a cycle), left
    there when events were counted from the rows loaded (make recompute)."""
    counts = count_by_object(rejects)
    for obj in objects:
        n = counts.get(obj.key, 0)
        obj.rejects += n
        if landed:
            obj.events -= n


def record(cur: Cursor, dialect: str, rejects: Sequence[CopyReject]) -> None:
    """Insert the rejects into ``load_rejects`` (in the caller's transaction), and log
    one warning line per object with the first reason."""
    if not rejects:
        return
    values = [(r.object_key, r.line_number, r.column_name, r.error_code, r.reason) for r in rejects]
    execute_values(cur, _one("load_rejects_insert", dialect), values, page_size=1000)
    first: dict[str, CopyReject] = {}
    for r in rejects:
        first.setdefault(r.object_key, r)
    for key, n in count_by_object(rejects).items():
        r = first[key]
        logger.warning(
            "COPY rejected %d rows of %s (kept out, recorded in load_rejects); line %d "
            "column %s: %s",
            n,
            key,
            r.line_number,
            r.column_name or "-",
            r.reason,
        )


def _one(name: str, dialect: str = "redshift") -> str:
    (statement,) = statements(load_sql(name, dialect))
    return statement


def clean(value: object) -> str:
    """A value Redshift gave, as one trimmed line (it pads its char columns)."""
    return " ".join(str(value).split()) if value is not None else ""
