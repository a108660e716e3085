-- A micro-batch's staged events de-duplicated, in its transaction, as Spark's
-- dropDuplicatesWithinWatermark on event_hour with SPEED_RETENTION did: what is left is
-- the relation "tweets" of its new events (speed_relation_tweets).
-- Late: at or before the watermark (the newest hour of the earlier micro-batches minus
-- the retention; <watermark> NULL before any), as Spark drops them. Their hours are long
-- before the horizon; a copy of an id forgotten (speed_seen_expire) is late too.
DELETE FROM speed_staged_tweets WHERE event_hour <= %(watermark)s;
-- Later copies within the micro-batch: the first in the topic wins (copies share a
-- partition, producers keying by tweet_id; across partitions, the lowest one's), in two
-- steps so that no correlated condition holds an OR (Redshift refuses some).
DELETE FROM speed_staged_tweets
WHERE EXISTS (
    SELECT 1 FROM speed_staged_tweets AS f
    WHERE f.tweet_id = speed_staged_tweets.tweet_id
      AND f.kafka_partition < speed_staged_tweets.kafka_partition
);
DELETE FROM speed_staged_tweets
WHERE EXISTS (
    SELECT 1 FROM speed_staged_tweets AS f
    WHERE f.tweet_id = speed_staged_tweets.tweet_id
      AND f.kafka_partition = speed_staged_tweets.kafka_partition
      AND f.kafka_offset < speed_staged_tweets.kafka_offset
);
-- Copies of tweets an earlier micro-batch counted.
DELETE FROM speed_staged_tweets USING speed_seen
WHERE speed_seen.tweet_id = speed_staged_tweets.tweet_id;
-- The new tweets are seen from now on.
INSERT INTO speed_seen (tweet_id, event_hour)
SELECT tweet_id, event_hour FROM speed_staged_tweets;
