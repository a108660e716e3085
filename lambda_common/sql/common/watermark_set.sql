-- Record the horizon one partition can vouch for; never lower than what it had.
-- (DELETE + INSERT rather than an upsert: the same text runs on Redshift.)
DELETE FROM batch_watermarks
WHERE topic = %(topic)s AND kafka_partition = %(kafka_partition)s AND horizon <= %(horizon)s;
INSERT INTO batch_watermarks (topic, kafka_partition, horizon)
SELECT %(topic)s, %(kafka_partition)s, %(horizon)s
WHERE NOT EXISTS (
    SELECT 1 FROM batch_watermarks
    WHERE topic = %(topic)s AND kafka_partition = %(kafka_partition)s
);
