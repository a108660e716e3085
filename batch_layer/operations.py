"""The operator's commands for what operations do to a topic.

- ``make batch-reset``: after the topic was deleted and re-created (the batch layer then
  stops with one line saying so), land the new incarnation: the old plans are archived,
  the group's offsets forgotten, and the new topic id registered as the next generation,
  whose objects and plans get keys of their own. What the old topic held and the batch
  layer had landed stays in S3 and the warehouse.
- ``make batch-ack-loss``: an operator has seen the offset ranges retention deleted
  before they were landed (``make status`` FAILs on them until then).
- ``make rebuild-views``: every batch view rebuilt in full from the raw tables (a cycle
  rebuilds only the hours it touched): the repair for a batch table someone edited or a
  bug in the incremental path, without reading S3 (``make recompute`` is the repair of
  the raw tables themselves, from the master dataset).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from batch_layer.cycle import archive, real_services
from batch_layer.landing import master_prefix, plans_prefix
from batch_layer.load import BatchWarehouse
from batch_layer.plan import Loss, TopicChanged
from lambda_common.errors import LambdaError
from lambda_common.kafka.broker import BATCH_GROUP_ID
from lambda_common.kafka.factory import open_event_log
from lambda_common.objectstore import S3ObjectStore
from lambda_common.settings import Settings
from lambda_common.warehouse import Warehouse

logger = logging.getLogger(__name__)


class NothingToReset(LambdaError):
    """The topic is the incarnation the batch layer reads: a reset would re-land it."""


def reset(settings: Settings) -> int:
    """Register the topic's current incarnation as a new generation; returns it."""
    topic = settings.kafka_topic
    now = datetime.now(UTC)
    with Warehouse(settings) as warehouse:
        services = real_services(settings, warehouse)
        with services.log:
            info = services.log.describe(topic)
            if info.topic_id is None:
                raise NothingToReset(
                    f"Kafka does not report topic ids (before 2.8): cannot tell {topic!r}'s "
                    "incarnations apart"
                )
            try:
                services.target.generation(topic, info.topic_id, now)
            except TopicChanged:
                pass  # another incarnation: exactly what a reset is for
            else:
                raise NothingToReset(
                    f"nothing to reset: Kafka topic {topic!r} (id {info.topic_id}) is the one "
                    "the batch layer reads"
                )
            label = f"reset-{now:%Y%m%dT%H%M%S}"
            archived: list[str] = []

            def retire() -> None:
                for key in services.store.list_keys(plans_prefix(topic)):
                    archive(services.store, key, label)
                    archived.append(key)
                services.log.forget(topic, info.partitions)

            generation = services.target.reset(topic, info.topic_id, now, retire)
    logger.info(
        "batch reset: Kafka topic %s (id %s) is generation %d; %d old plans archived under "
        "plans-archive/%s/; the group's offsets forgotten: the next cycle lands the topic "
        "from its beginning",
        topic,
        info.topic_id,
        generation,
        len(archived),
        label,
    )
    return generation


def open_losses(settings: Settings) -> list[Loss]:
    """The topic's recorded offset losses no operator has acknowledged yet."""
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, S3ObjectStore(settings))
        batch.ensure_schema()
        return batch.open_losses(settings.kafka_topic)


def acknowledge_losses(settings: Settings, losses: list[Loss]) -> int:
    """Mark exactly ``losses`` (the ones the operator was shown) as seen; returns how
    many were still open. A loss recorded since stays open for the next look."""
    now = datetime.now(UTC)
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, S3ObjectStore(settings))
        count = batch.acknowledge_losses(settings.kafka_topic, now, losses)
    logger.info("acknowledged %d recorded offset losses of %s", count, settings.kafka_topic)
    return count


def losses_preview(topic: str, losses: list[Loss]) -> str:
    """What ``make batch-ack-loss`` will acknowledge, a line per range."""
    lines = [f"make batch-ack-loss acknowledges these {len(losses)} offset losses of {topic!r}:"]
    return "\n".join(lines + [f"  {loss.shown()}" for loss in losses])


def reset_preview(settings: Settings) -> str:
    """What ``make batch-reset`` would do, for the operator to confirm."""
    topic = settings.kafka_topic
    store = S3ObjectStore(settings)
    store.check()
    plans = len(store.list_keys(plans_prefix(topic)))
    with open_event_log(settings, BATCH_GROUP_ID, client_id="lambda-batch") as log:
        info = log.describe(topic)
    return (
        f"make batch-reset registers Kafka topic {topic!r} (id {info.topic_id}) as a new "
        f"generation: {plans} plans of the old one are archived, the group's offsets are "
        "forgotten and the next cycle lands the topic from its beginning (what was landed "
        "stays in S3 and the warehouse)"
    )


def rebuild_views(settings: Settings) -> datetime | None:
    """Rebuild every batch view in full at the current horizon; returns the horizon."""
    started = time.monotonic()
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, S3ObjectStore(settings))
        batch.ensure_schema()
        horizon = batch.rebuild_views()
    if horizon is None:
        logger.info("rebuild-views: no batch cycle has set a horizon yet; nothing to rebuild")
    else:
        logger.info(
            "rebuild-views: every batch view rebuilt in full up to the horizon %s in %.1fs",
            f"{horizon:%Y-%m-%d %H:%M}",
            time.monotonic() - started,
        )
    return horizon


def recompute_preview(settings: Settings) -> str:
    """What ``make recompute`` would do, in a few lines, for the operator to confirm."""
    store = S3ObjectStore(settings)
    store.check()
    topic = settings.kafka_topic
    objects = len(store.list_keys(master_prefix(topic)))
    with Warehouse(settings) as warehouse:
        batch = BatchWarehouse(settings, warehouse, store)
        batch.ensure_schema()
        ((ledger, tweets, hashtags),) = warehouse.query(batch.statement("recompute_preview"))
    return (
        f"make recompute clears raw_tweets ({int(tweets):,} rows), raw_hashtags "
        f"({int(hashtags):,} rows) and the load ledger ({int(ledger):,} objects), then loads "
        f"topic {topic!r} from its {objects:,} master objects in s3://{store.bucket}/"
        f"{master_prefix(topic)} and rebuilds every batch view (one transaction: readers "
        "keep the old tables until it commits)"
    )
