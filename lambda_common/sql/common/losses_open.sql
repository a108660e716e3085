-- Every unacknowledged offset loss of the topic, for make batch-ack-loss to show before
-- it asks.
SELECT generation, kafka_partition, first_offset, last_offset, detected_at
FROM lost_offsets
WHERE topic = %(topic)s AND acknowledged_at IS NULL
ORDER BY generation, kafka_partition, first_offset;
