-- make recompute on Redshift: the events every object put in the staging table, in one
-- statement (COPY loaded the objects from S3 itself, so nothing counted them on the way).
-- An object with no staged row counts 0. The ranges of one partition do not overlap (the
-- load counts the objects that share offsets from their own streams instead).
SELECT r.slot, COUNT(s.kafka_offset) AS events
FROM recompute_ranges AS r
LEFT JOIN staging_tweets AS s
    ON s.kafka_partition = r.kafka_partition
    AND s.kafka_offset BETWEEN r.first_offset AND r.last_offset
GROUP BY r.slot;
