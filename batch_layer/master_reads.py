"""Reading the master dataset back for ``make recompute``: streamed, and only what is needed.

- ``first_record``: the first line of a master object (does Redshift's COPY load it as it
  is?), without downloading the rest;
- ``Rejects``: the rejects objects of a topic, found with one listing, and the rejects a
  chunk had, counted from its rejects object as it streams (no HEAD per object);
- ``count_records``: the events a master object holds, counted as it streams;
- ``overlapping``: the objects whose offsets another object of the same partition shares
  (generations of a re-created topic restart at offset 0), which a count of the staged
  rows by offset range cannot tell apart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from batch_layer.landing import (
    LandedObject,
    count_master_records,
    rejects_key_of,
    rejects_prefix,
    stream_master_records,
)
from lambda_common.objectstore import ObjectStore

logger = logging.getLogger(__name__)


def first_record(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The first record of a master object (None: it holds none), read from the start
    of its stream only: the rest is never transferred."""
    with store.open(key) as stream:
        records = stream_master_records(stream)
        try:
            return next(records, None)
        finally:
            records.close()


def count_records(store: ObjectStore, key: str) -> int:
    """How many records the object at ``key`` holds, counted as it streams."""
    with store.open(key) as stream:
        return count_master_records(stream)


@dataclass(frozen=True)
class Rejects:
    """The rejects objects of one topic (every generation), as one listing found them.

    List them only once the batch lock is held, after the master objects: landing writes
    a chunk's rejects object before its master object, so every master object listed
    then has its rejects object listed too.
    """

    store: ObjectStore
    keys: frozenset[str]

    @classmethod
    def listed(cls, store: ObjectStore, topic: str) -> Rejects:
        """Every rejects object of ``topic``, with one listing of its prefix."""
        return cls(store, frozenset(store.list_keys(rejects_prefix(topic))))

    def count(self, master_key: str) -> int:
        """The rejects of the chunk whose master object is ``master_key``: 0 without a
        rejects object (a chunk without rejects writes none), else its records."""
        key = rejects_key_of(master_key)
        if key not in self.keys:
            return 0
        return count_records(self.store, key)


def overlapping(objects: Iterable[LandedObject]) -> set[str]:
    """Keys of the objects whose offset range shares an offset with another object's of
    the same partition."""
    by_partition: dict[int, list[LandedObject]] = {}
    for obj in objects:
        by_partition.setdefault(obj.partition, []).append(obj)
    shared: set[str] = set()
    for group in by_partition.values():
        group.sort(key=lambda o: (o.first_offset, o.last_offset))
        # The object reaching furthest so far: a later start at or before its end overlaps.
        reach: LandedObject | None = None
        for obj in group:
            if reach is not None and obj.first_offset <= reach.last_offset:
                shared.update((obj.key, reach.key))
            if reach is None or obj.last_offset > reach.last_offset:
                reach = obj
    return shared
