-- The events one object put in the staging table (make recompute counts them).
SELECT COUNT(*) FROM staging_tweets
WHERE kafka_partition = %(kafka_partition)s
  AND kafka_offset BETWEEN %(first_offset)s AND %(last_offset)s;
