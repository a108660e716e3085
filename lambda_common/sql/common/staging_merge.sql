-- Staged rows into raw_tweets and raw_hashtags: the first copy of each tweet_id in the
-- topic wins (lowest offset; copies share a partition because producers key by
-- tweet_id), and a tweet_id already loaded (an earlier, lower offset) is never replaced.
-- The winners are kept apart first so both tables take the very same tweets.
-- How each warehouse probes the ids already loaded (PostgreSQL raw_tweets' primary key,
-- Redshift a narrow table of the loaded ids): lambda_common/sql/clauses/<dialect>.sql.
{staging_analyze};
CREATE TEMP TABLE staging_new AS
SELECT *
FROM (
    SELECT
        s.*,
        ROW_NUMBER() OVER (PARTITION BY s.tweet_id ORDER BY s.kafka_offset, s.kafka_partition) AS copy_rank
    FROM staging_tweets AS s
) AS ranked
WHERE copy_rank = 1
  AND NOT EXISTS (
{loaded_probe}
  );
INSERT INTO raw_tweets (
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
)
SELECT
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
FROM staging_new;
{loaded_ids_insert};
