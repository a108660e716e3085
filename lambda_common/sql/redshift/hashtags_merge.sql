-- The new tweets' hashtag keys (a SUPER array per tweet, already distinct) into
-- raw_hashtags with the tweet's hour, in the transaction that loads the tweets: PartiQL's
-- FROM-clause unnesting gives one row per element.
INSERT INTO raw_hashtags (tweet_id, hashtag, event_hour)
SELECT n.tweet_id, CAST(h AS VARCHAR(400)), n.event_hour
FROM staging_new AS n, n.hashtags AS h;
DROP TABLE staging_new;
DROP TABLE staging_tweets;
