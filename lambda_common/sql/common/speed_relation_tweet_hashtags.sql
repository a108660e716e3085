-- The relation "tweet_hashtags" of one micro-batch: one row per new event and distinct
-- hashtag key, from the horizon on (joined by the event's place in the topic, so a copy
-- speed_dedup dropped brings none). relation_tweet_hashtags.sql's counterpart.
SELECT t.tweet_id, t.event_hour, t.location, t.lang, t.user_id,
       t.followers_count, t.favorite_count, t.retweet_count, h.hashtag
FROM speed_staged_tweets AS t
JOIN speed_staged_hashtags AS h
  ON h.kafka_partition = t.kafka_partition AND h.kafka_offset = t.kafka_offset
WHERE t.event_hour >= %(since)s
