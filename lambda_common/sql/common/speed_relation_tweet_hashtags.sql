-- The relation "tweet_hashtags" of one micro-batch: one row per new event and distinct
-- hashtag key, from the horizon on. relation_tweet_hashtags.sql's counterpart.
SELECT t.tweet_id, t.event_hour, t.location, t.lang, t.user_id,
       t.followers_count, t.favorite_count, t.retweet_count, h.hashtag
FROM speed_staged_tweets AS t
JOIN speed_staged_hashtags AS h ON h.tweet_id = t.tweet_id AND h.event_hour = t.event_hour
WHERE t.event_hour >= %(since)s AND h.event_hour >= %(since)s
