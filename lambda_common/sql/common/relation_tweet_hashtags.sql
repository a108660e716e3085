-- The relation "tweet_hashtags" in the warehouse: one row per event and distinct hashtag
-- key (raw_hashtags holds each tweet's keys, loaded with it), for the hours before the horizon.
SELECT t.tweet_id, t.event_hour, t.location, t.lang, t.user_id,
       t.followers_count, t.favorite_count, t.retweet_count, h.hashtag
FROM raw_tweets AS t
JOIN raw_hashtags AS h ON h.tweet_id = t.tweet_id
WHERE t.event_hour < %(horizon)s
