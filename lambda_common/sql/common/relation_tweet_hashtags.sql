-- The relation "tweet_hashtags" in the warehouse: one row per event and distinct hashtag
-- key (raw_hashtags holds each tweet's keys with the tweet's hour, loaded with it), for
-- the hours being rebuilt. Both tables are restricted to the range on their own
-- event_hour, so neither is read beyond those hours.
SELECT t.tweet_id, t.event_hour, t.location, t.lang, t.user_id,
       t.followers_count, t.favorite_count, t.retweet_count, h.hashtag
FROM raw_tweets AS t
JOIN raw_hashtags AS h ON h.tweet_id = t.tweet_id AND h.event_hour = t.event_hour
WHERE t.event_hour >= %(since)s AND t.event_hour < %(until)s
  AND h.event_hour >= %(since)s AND h.event_hour < %(until)s
