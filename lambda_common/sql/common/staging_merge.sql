-- Staged rows into raw_tweets: the first copy of each tweet_id in the topic wins
-- (lowest offset; copies share a partition because producers key by tweet_id), and a
-- tweet_id already in raw_tweets (an earlier, lower offset) is never replaced.
INSERT INTO raw_tweets (
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset
)
SELECT
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset
FROM (
    SELECT
        s.*,
        ROW_NUMBER() OVER (PARTITION BY s.tweet_id ORDER BY s.kafka_offset, s.kafka_partition) AS copy_rank
    FROM staging_tweets AS s
) AS ranked
WHERE copy_rank = 1
  AND NOT EXISTS (SELECT 1 FROM raw_tweets AS r WHERE r.tweet_id = ranked.tweet_id);
DROP TABLE staging_tweets;
