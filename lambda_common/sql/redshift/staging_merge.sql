-- Staged rows into raw_tweets and raw_hashtags: the first copy of each tweet_id in the
-- topic wins (lowest offset; copies share a partition because producers key by
-- tweet_id), and a tweet_id already loaded (an earlier, lower offset) is never replaced.
-- The winners are kept apart first so both tables take the very same tweets.
--
-- The probe reads raw_tweet_ids, not raw_tweets: a narrow table of every loaded id,
-- DISTKEY and SORTKEY (tweet_id), so the join stays on each node and the range of the
-- staged ids (%(first_id)s..%(last_id)s, bound from the staging table) lets the zone maps
-- skip every block outside it. raw_tweets itself is sorted by event_hour for the views.
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
      SELECT 1 FROM raw_tweet_ids AS r
      WHERE r.tweet_id = ranked.tweet_id
        AND r.tweet_id >= %(first_id)s AND r.tweet_id <= %(last_id)s
  );
INSERT INTO raw_tweets (
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
)
SELECT
    tweet_id, created_at, event_hour, location, user_id,
    followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
FROM staging_new;
INSERT INTO raw_tweet_ids (tweet_id)
SELECT tweet_id FROM staging_new;
