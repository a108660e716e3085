"""The batch layer's decisions, as pure functions: which offsets a cycle lands, which
partitions a process owns, and where the horizon goes.

Nothing here does I/O: the cycle (``cycle``) gathers the facts (the topic's identity and
offsets, the plans left in S3) and carries out what these functions decide, so every
rule below is unit-tested in milliseconds.

**The plan and resume rule.** For each owned partition, a cycle lands ``[start, end)``
where ``start`` is the group's committed offset and ``end`` the end offset at the cycle's
start. The plan is stored before any object is written, at a key that depends only on
(topic, generation, partition, start); a cycle that finds one there (a crashed cycle's)
redoes it exactly: same offsets, same chunks, and the same clock for judging
"more than an hour in the future", so the same objects. Offsets that arrived since get a
plan of their own after it.

**What stops a cycle instead.** A plan or committed offset that does not fit the topic
as it is now (another topic id, offsets past the end) means the topic was deleted and
re-created: that is ``TopicChanged``, with what to do, never a wait for offsets that will
not come and never an object overwritten. A committed offset below the partition's
beginning means retention deleted offsets before they were landed: a ``Loss`` the cycle
records (``make status`` FAILs on it until acknowledged), and landing goes on from the
beginning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from batch_layer.landing import PartitionPlan, plan_key
from lambda_common.errors import ConfigError, LambdaError
from lambda_common.kafka.eventlog import Offsets

RESET_HINT = "make batch-reset (docs/operations.md)"


class TopicChanged(LambdaError):
    """The topic is not the one the batch layer has been reading (deleted and re-created)."""


@dataclass(frozen=True)
class Loss:
    """Offsets ``first..last`` of a partition that retention deleted before they were landed."""

    topic: str
    generation: int
    partition: int
    first: int
    last: int

    def line(self) -> str:
        """The log line that says so."""
        return (
            f"offsets {self.first}..{self.last} of {self.topic}/{self.partition} expired "
            "before the batch layer landed them (Kafka retention): recorded as lost; "
            "make status FAILs until make batch-ack-loss"
        )

    def shown(self) -> str:
        """How ``make batch-ack-loss`` shows it before it asks."""
        return (
            f"generation {self.generation}, partition {self.partition}: offsets "
            f"{self.first}..{self.last} ({self.last - self.first + 1:,})"
        )


@dataclass
class PartitionDecision:
    """What a cycle does with one partition: the plans to land (resumed first), a loss
    to record, and abandoned plans (whose offsets expired) to archive."""

    plans: list[PartitionPlan] = field(default_factory=list)
    new: list[PartitionPlan] = field(default_factory=list)  # of ``plans``, the ones to store
    loss: Loss | None = None
    abandoned: list[str] = field(default_factory=list)


PlanLookup = Callable[[str], PartitionPlan | None]
"""The plan stored at a key, or None (the object store, read by the cycle)."""


def plan_partition(
    topic: str,
    partition: int,
    offsets: Offsets,
    *,
    topic_id: str | None,
    generation: int,
    judged_at: datetime,
    stored_plan: PlanLookup,
) -> PartitionDecision:
    """Decide what to land of one partition (see the module's rules).

    ``stored_plan`` looks up a plan left by an earlier cycle; ``judged_at`` is the clock
    new plans judge event times with. Raises ``TopicChanged`` when the partition's
    offsets or a stored plan do not belong to the topic as it is now.
    """
    decision = PartitionDecision()
    where = f"{topic}/{partition}"
    committed = offsets.committed
    if committed is not None and committed > offsets.end:
        raise TopicChanged(
            f"Kafka topic {topic!r} partition {partition}: the batch layer's committed offset "
            f"{committed} is past the partition's end {offsets.end}, so the topic was deleted "
            f"and re-created (or truncated); run {RESET_HINT}"
        )
    start = committed if committed is not None else offsets.beginning
    if start < offsets.beginning:
        # A plan a crashed cycle left at the committed offset cannot be redone now: its
        # first offsets are gone. It is archived; what is still retained is re-planned.
        left = stored_plan(plan_key(topic, partition, start, generation))
        if left is not None:
            decision.abandoned.append(left.key)
        decision.loss = Loss(topic, generation, partition, start, offsets.beginning - 1)
        start = offsets.beginning
    while True:
        plan = stored_plan(plan_key(topic, partition, start, generation))
        if plan is not None:
            _check_resumable(plan, where, offsets, topic_id)
        elif offsets.end > start:
            plan = PartitionPlan(
                topic,
                partition,
                start,
                offsets.end,
                topic_id=topic_id,
                generation=generation,
                judged_at=judged_at.astimezone(UTC).isoformat(),
            )
            decision.new.append(plan)
        else:
            break
        decision.plans.append(plan)
        if plan.end >= offsets.end:
            break
        start = plan.end
    return decision


def _check_resumable(
    plan: PartitionPlan, where: str, offsets: Offsets, topic_id: str | None
) -> None:
    if plan.topic_id and topic_id and plan.topic_id != topic_id:
        raise TopicChanged(
            f"the plan {plan.key} was made for another incarnation of the topic (id "
            f"{plan.topic_id}, now {topic_id}): {where} was deleted and re-created; run "
            f"{RESET_HINT}"
        )
    if plan.end > offsets.end:
        raise TopicChanged(
            f"the plan {plan.key} lands offsets up to {plan.end - 1} but {where} ends at "
            f"{offsets.end}: the topic was deleted and re-created (or truncated); run "
            f"{RESET_HINT}"
        )


def plan_ends(plans: list[PartitionPlan]) -> dict[int, int]:
    """The offset to commit per partition: the largest plan end (a partition may have a
    resumed plan and a new one after it)."""
    ends: dict[int, int] = {}
    for plan in plans:
        ends[plan.partition] = max(ends.get(plan.partition, 0), plan.end)
    return ends


def horizon_for(cycle_start: datetime, allowed_lateness_s: int) -> datetime:
    """The horizon a cycle can vouch for: the start of the hour holding
    ``cycle_start - lateness``, as naive UTC (the views' time)."""
    point = cycle_start.astimezone(UTC) - timedelta(seconds=allowed_lateness_s)
    return point.replace(minute=0, second=0, microsecond=0, tzinfo=None)


def choose_horizon(covered: datetime | None, current: datetime | None) -> datetime | None:
    """The horizon to publish: what every partition vouches for (``covered``, None while
    some partition has no watermark), never below the ``current`` one."""
    candidates = [h for h in (covered, current) if h is not None]
    return max(candidates) if candidates else None


_MODULO = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class PartitionSet:
    """The partitions one batch process takes (``PARTITIONS``): all of them (None), an
    explicit list (``0,1``), or every partition ``p`` with ``p % n == i`` (``i/n``).

    All and ``i/n`` give partitions added to the topic later an owner at once; an
    explicit list does not: a partition outside every process's list is never landed,
    which ``make status`` reports as a FAIL.
    """

    listed: tuple[int, ...] | None = None
    modulo: tuple[int, int] | None = None

    @classmethod
    def parse(cls, text: str | None) -> PartitionSet:
        """``""``/None: all; ``0,2``: those; ``1/3``: p % 3 == 1. ``ConfigError`` otherwise."""
        if text is None or not text.strip():
            return cls()
        match = _MODULO.match(text)
        if match:
            index, count = int(match[1]), int(match[2])
            if count < 1 or index >= count:
                raise ConfigError(
                    f"PARTITIONS {text!r}: i/n needs 0 <= i < n "
                    "(e.g. 0/2 and 1/2 for two processes)"
                )
            return cls(modulo=(index, count))
        try:
            listed = tuple(sorted({int(p) for p in text.split(",") if p.strip()}))
        except ValueError:
            raise ConfigError(
                f"PARTITIONS {text!r}: give partition numbers (0,1) or i/n (0/2)"
            ) from None
        if not listed or min(listed) < 0:
            raise ConfigError(f"PARTITIONS {text!r}: partition numbers are 0 or more")
        return cls(listed=listed)

    def owns(self, partition: int) -> bool:
        """Whether this process takes ``partition``."""
        if self.modulo is not None:
            index, count = self.modulo
            return partition % count == index
        return self.listed is None or partition in self.listed

    def choose(self, partitions: tuple[int, ...]) -> list[int]:
        """The owned ones of the topic's ``partitions``."""
        return [p for p in partitions if self.owns(p)]

    @property
    def label(self) -> str:
        """How it is written (lock names, logs): ``all``, ``0,1`` or ``1/3``."""
        if self.modulo is not None:
            return f"{self.modulo[0]}/{self.modulo[1]}"
        return "all" if self.listed is None else ",".join(map(str, self.listed))
