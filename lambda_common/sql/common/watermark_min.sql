-- The horizon every one of the listed partitions can vouch for: NULL until each of them
-- has a watermark (a partition no batch process has handled yet holds the horizon back).
SELECT CASE WHEN COUNT(*) = %(partitions)s THEN MIN(horizon) END
FROM batch_watermarks
WHERE topic = %(topic)s AND kafka_partition IN %(partition_list)s;
