"""One row Redshift's COPY rejects does not halt the batch layer: opt-in, against a real
Amazon Redshift (the ``redshift`` fixture of ``test_redshift``: set REDSHIFT_TEST_DSN and
REDSHIFT_TEST_S3_BUCKET, and REDSHIFT_IAM_ROLE or AWS keys; see that module).

A cycle lands a count of 2^63 - 1, an event of the year 0999 and a few plain ones, and
one more whose line in the master object is spoiled on its way to S3 (its
``followers_count`` is no number: no valid event makes a row Redshift rejects, so the
test makes one). The cycle completes under MAXERROR, the good rows are exact, the spoiled
one is recorded in ``load_rejects`` with its object, line, column and Redshift's reason,
counted as a reject in the ledger, served nowhere; the offsets move, and ``make
recompute`` records the same reject again.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from batch_layer.cycle import Services, cycle, recompute
from batch_layer.load import BatchWarehouse
from lambda_common.contract import Event
from lambda_common.kafka.broker import BATCH_GROUP_ID
from lambda_common.kafka.factory import open_event_log
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse
from tests.unit.test_landed import counted_event

from .test_batch_exact_values import raw_row, raw_rows
from .test_redshift import BUCKET, DSN, _send
from .test_redshift import redshift as redshift  # the fixture

pytestmark = pytest.mark.skipif(
    not (DSN and BUCKET),
    reason="opt-in: set REDSHIFT_TEST_DSN and REDSHIFT_TEST_S3_BUCKET to run against Redshift",
)

TOP = 2**63 - 1
SPOILED = "66"  # the tweet whose landed line Redshift is made to reject


class _SpoilingStore(S3ObjectStore):
    """S3, but the master object holding tweet ``SPOILED`` is written with that line's
    ``followers_count`` as text no integer column takes (landing counted the line)."""

    spoiled: tuple[str, int, int] | None = None  # (key, its line from 1, the object's lines)

    def put(self, key: str, body: bytes) -> None:
        if key.startswith("master/"):
            lines = gzip.decompress(body).split(b"\n")
            for n, line in enumerate(lines):
                if line and json.loads(line)["tweet_id"] == SPOILED:
                    record = json.loads(line) | {"followers_count": "twelve"}
                    lines[n] = json.dumps(record, ensure_ascii=False).encode()
                    self.spoiled = (key, n + 1, sum(1 for x in lines if x))
                    body = gzip.compress(b"\n".join(lines), mtime=0)
        super().put(key, body)


def _events(now: datetime) -> list[Event]:
    return [
        counted_event(tweet_id, at, count, location="Reject Town")
        for tweet_id, at, count in (
            ("61", now - timedelta(hours=3), TOP),
            ("62", datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 7),
            ("63", now - timedelta(hours=4), 0),
            (SPOILED, now - timedelta(hours=3), 5),
        )
    ]


def _rejects(settings: Settings) -> list[tuple[object, ...]]:
    with Warehouse(settings) as wh:
        return wh.query(
            "SELECT object_key, line_number, TRIM(column_name), error_code, reason "
            "FROM load_rejects"
        )


def test_a_row_redshift_rejects_is_recorded_and_the_cycle_goes_on(redshift: Settings) -> None:
    now = datetime.now(UTC)
    events = _events(now)
    _send(redshift, events, [])
    store = _SpoilingStore(redshift)
    store.check()
    with Warehouse(redshift) as wh:
        target = BatchWarehouse(redshift, wh, store)
        target.ensure_schema()
        with open_event_log(redshift, BATCH_GROUP_ID, client_id="it-copy-rejects") as log:
            services = Services(log, store, target)
            result = cycle(services, redshift.kafka_topic, redshift.allowed_lateness, now=now)
            again = cycle(services, redshift.kafka_topic, redshift.allowed_lateness, now=now)
    assert (result.events, result.rejects, result.loaded) == (3, 1, True)
    assert (again.objects, again.loaded) == (0, False)  # the offsets moved past it

    expected = [raw_row(e) for e in events if e.tweet_id != SPOILED]
    assert raw_rows(redshift) == expected

    assert store.spoiled is not None
    key, line, lines = store.spoiled
    ((object_key, line_number, column, code, reason),) = _rejects(redshift)
    assert (object_key, line_number, column) == (key, line, "followers_count")
    assert code and reason.strip()
    with Warehouse(redshift) as wh:
        ledger = wh.query("SELECT events, rejects FROM load_ledger WHERE object_key = %s", (key,))
        served = wh.query("SELECT COUNT(*) FROM raw_tweets WHERE tweet_id = %s", (SPOILED,))
        counted = wh.query("SELECT SUM(tweet_count) FROM batch_view WHERE location = 'Reject Town'")
    assert [(int(e), int(r)) for e, r in ledger] == [(lines - 1, 1)]
    assert served == [(0,)] and [int(n) for (n,) in counted] == [len(expected)]

    # make recompute finds the same reject again (cleared, then recorded once).
    recompute(redshift)
    assert raw_rows(redshift) == expected
    assert [(r[0], r[1], r[2]) for r in _rejects(redshift)] == [(key, line, "followers_count")]
