-- The new tweets' hashtag keys (a JSON array per tweet, already distinct) into
-- raw_hashtags with the tweet's hour, in the transaction that loads the tweets.
INSERT INTO raw_hashtags (tweet_id, hashtag, event_hour)
SELECT n.tweet_id, h.hashtag, n.event_hour
FROM staging_new AS n
CROSS JOIN LATERAL jsonb_array_elements_text(CAST(n.hashtags AS jsonb)) AS h (hashtag);
DROP TABLE staging_new;
DROP TABLE staging_tweets;
