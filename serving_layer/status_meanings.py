"""What each family of ``make status`` checks means, and what to do when it is not OK.

A family is a check's name without its instance (``kafka.partition.2`` is of
``kafka.partition``; :func:`family`). The dashboard links every status line to its
family's meaning; docs/monitoring.md's table of checks lists the same families (a unit test
keeps the two in step).
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "kafka": "The broker answers. FAIL: Kafka is unreachable at KAFKA_BOOTSTRAP_SERVERS.",
    "kafka.topic": "The topic exists and its offsets can be read. FAIL: it is missing "
    "(make init creates it).",
    "kafka.topic_id": "The topic is the incarnation the batch layer reads. FAIL: it was "
    "deleted and re-created; the batch layer stops until make batch-reset.",
    "kafka.partition": "A partition's end offset, the batch layer's committed offset and the "
    "lag between them. WARN: messages but no commit yet. FAIL: the committed offset expired "
    "(below the earliest retained) or is past the end.",
    "s3": "The master dataset's bucket answers. FAIL: S3 is unreachable or the bucket missing.",
    "warehouse": "The warehouse answers as QUERY_DSN's reader. FAIL: unreachable or refused.",
    "warehouse.schema": "Every table and view of the pipeline exists. WARN: some are missing "
    "(not set up yet, or a view just added) until a layer ensures the schema (make init).",
    "batch.horizon": "The batch horizon and its age. WARN: no batch cycle yet, older than "
    "ALLOWED_LATENESS + 1 h + 2 x BATCH_INTERVAL, or in the future. FAIL: a further day older: "
    "is make batch running?",
    "batch.partition": "A partition no batch process has ever handled while others have: "
    "it holds the horizon back. FAIL until a batch process takes it (PARTITIONS=).",
    "batch.lost": "Offset ranges Kafka's retention deleted before the batch layer landed "
    "them. FAIL per unacknowledged range until make batch-ack-loss.",
    "batch.rejects": "Messages the batch layer rejected (quarantined with their reason). "
    "WARN above 5 % of the messages read.",
    "batch.verify": "The last make verify: every batch view recomputed from the S3 master "
    "dataset by a second engine (DuckDB) and compared row by row, and the load ledger with "
    "the objects (OK before any run). FAIL: it found a difference, named in its first FAIL "
    "line; repair (make rebuild-views, make recompute), then run make verify again.",
    "speed.last-batch": "The speed layer's newest micro-batch. WARN: none yet, or newer "
    "messages waiting. FAIL: messages waiting and no micro-batch for a day.",
    "speed.freshness": "The newest event time the speed layer has seen.",
    "speed.rejects": "Messages the speed layer rejected in the last day. WARN above 5 %.",
    "rows": "Rows of a raw table, of a view's batch or speed table, or served by a serving "
    "view (with the tweets they count). Information only.",
    "serving.integrity": "No key (hour and the view's keys) served twice by a serving view. "
    "FAIL: a key is served more than once, e.g. by both layers.",
}


def family(check: str) -> str:
    """The family of a check's name: ``kafka.partition.2`` -> ``kafka.partition``,
    ``rows.batch_view`` -> ``rows``, ``serving.integrity.hashtags`` ->
    ``serving.integrity``, ``batch.lost.2.120`` -> ``batch.lost``."""
    parts = check.split(".")
    if parts[0] == "rows":
        return "rows"
    if len(parts) > 2 or (len(parts) == 2 and parts[1][:1].isdigit()):
        return ".".join(parts[:2])
    return check
