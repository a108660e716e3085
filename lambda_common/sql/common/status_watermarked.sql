-- The partitions of the topic some batch process has handled (each has a watermark).
SELECT kafka_partition
FROM batch_watermarks
WHERE topic = %(topic)s;
