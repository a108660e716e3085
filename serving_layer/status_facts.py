"""``make status``'s vocabulary: the facts gathered from Kafka, S3 and the warehouse, and
the checks :func:`serving_layer.status_checks.evaluate` turns them into.

Plain data only: no I/O and no judgement, so the judgement is unit-tested with crafted
facts and the gatherers (``status_gather``) are tested against the real services.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from lambda_common.views import View

# The pipeline's tables besides each view's own relations: status reads them, and the
# reader role may read exactly these and every view's three relations (relations()).
TABLES = (
    "raw_tweets",
    "raw_hashtags",
    "load_ledger",
    "batch_daily",
    "batch_horizon",
    "batch_watermarks",
    "batch_topics",
    "lost_offsets",
    "speed_batches",
    "verify_runs",
)
# The raw tables whose row counts the report shows (each view's tables are counted too).
COUNTED = ("raw_tweets", "raw_hashtags")


def relations(views: Iterable[View]) -> tuple[str, ...]:
    """The tables and views the pipeline creates (ensure_schema) that status reads and
    the reader role may read: :data:`TABLES`, then each view's batch table, speed table
    and serving view, in the order of ``views`` (``settings.views``)."""
    own = (name for v in views for name in (v.batch_table, v.speed_table, v.serving_view))
    return (*TABLES, *own)


class Level(StrEnum):
    """How a check came out; ordered from good to bad."""

    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


RANK = {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    level: Level
    name: str
    detail: str


@dataclass(frozen=True)
class PartitionFacts:
    """One partition of the topic."""

    partition: int
    beginning: int  # earliest offset still retained
    end: int  # offset the next message will get
    committed: int | None  # the batch group's committed offset; None: never committed
    newest_at: datetime | None = None  # producer timestamp of the newest message (naive UTC)

    @property
    def lag(self) -> int:
        """Messages the batch layer has yet to land: from its committed offset (from the
        earliest retained one before its first commit) to the end."""
        return self.end - (self.beginning if self.committed is None else self.committed)


@dataclass
class KafkaFacts:
    """What the broker says about the topic and the batch layer's consumer group."""

    servers: str
    topic: str
    error: str | None = None  # unreachable: nothing below is known
    brokers: int = 0
    topic_exists: bool = False
    partitions: list[PartitionFacts] = field(default_factory=list)
    offsets_error: str | None = None  # the topic exists but its offsets could not be read
    # Kafka's id of the topic's current incarnation (str of its UUID); None: the broker
    # reports none (before Kafka 2.8), or the topic does not exist.
    topic_id: str | None = None


@dataclass
class S3Facts:
    """Whether the master dataset's bucket answers."""

    bucket: str
    endpoint: str
    error: str | None = None


@dataclass(frozen=True)
class SpeedBatchFacts:
    """The newest row of ``speed_batches``."""

    batch_id: int
    finished_at: datetime
    input_rows: int
    duration_ms: int = 0


@dataclass(frozen=True)
class IncarnationFacts:
    """The newest row of ``batch_topics`` for the topic: the incarnation the batch layer
    reads (generation 0 is the first topic id it saw; make batch-reset adds the next)."""

    generation: int
    topic_id: str
    started_at: datetime


@dataclass(frozen=True)
class LossFacts:
    """One unacknowledged row of ``lost_offsets``: offsets ``first..last`` of a partition
    that Kafka's retention deleted before the batch layer landed them."""

    topic: str
    generation: int
    partition: int
    first: int
    last: int
    detected_at: datetime


@dataclass(frozen=True)
class ViewFacts:
    """One view's relations: the rows of its batch and speed tables, and what its serving
    view serves (read in one scan: rows, the tweets they count, duplicated keys)."""

    view: View
    batch_rows: int = 0
    speed_rows: int = 0
    serving_rows: int = 0
    # The sum of tweet_count: a tweet counts once per row it is in (once per distinct
    # hashtag in the hashtags view).
    serving_tweets: int = 0
    # Key groups (view.key_columns) the serving view serves more than once: it promises none.
    duplicates: int = 0


@dataclass(frozen=True)
class VerifyFacts:
    """The topic's last ``make verify`` (``verify_runs``): every view recomputed from the
    master dataset by a second engine and compared with its batch table."""

    finished_at: datetime
    ok: bool
    views: int
    rows: int  # rows compared, over every view
    events: int  # events read from the master dataset
    duration_s: float
    failed: str  # its first FAIL line ('' when OK)


@dataclass
class WarehouseFacts:
    """What the warehouse's tables and views hold."""

    where: str  # the DSN, password masked
    dialect: str
    error: str | None = None  # unreachable or failing: nothing below is known
    missing: tuple[str, ...] = ()  # relations not created yet: nothing below is known
    horizon: datetime | None = None
    ledger_events: int = 0
    ledger_rejects: int = 0
    last_speed_batch: SpeedBatchFacts | None = None
    max_event_time: datetime | None = None
    speed_input_day: int = 0
    speed_rejects_day: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # COUNTED table -> rows
    views: tuple[ViewFacts, ...] = ()  # one per view, in settings.views' order
    # The topic's newest registered incarnation; None: the batch layer has not read it yet.
    incarnation: IncarnationFacts | None = None
    # Unacknowledged losses of the topic: how many, and the first few of them (the report
    # has one line each, so a long list is cut short); acknowledged ones are only counted.
    losses_open: int = 0
    losses: tuple[LossFacts, ...] = ()
    losses_acknowledged: int = 0
    # The topic's partitions that have a row in batch_watermarks (some batch process has
    # handled them).
    watermarked: frozenset[int] = frozenset()
    # The topic's last make verify; None: never run.
    last_verify: VerifyFacts | None = None


@dataclass
class Facts:
    """Everything :func:`~serving_layer.status_checks.evaluate` needs, from all three
    services."""

    kafka: KafkaFacts
    s3: S3Facts
    warehouse: WarehouseFacts
