-- The unacknowledged offset losses of the topic, one report line each; the caller limits
-- how many (the rest are counted by status_losses_count).
SELECT generation, kafka_partition, first_offset, last_offset, detected_at
FROM lost_offsets
WHERE topic = %(topic)s AND acknowledged_at IS NULL
ORDER BY generation, kafka_partition, first_offset
LIMIT %(limit)s;
