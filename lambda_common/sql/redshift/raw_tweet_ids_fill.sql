-- Upgrade in place: raw_tweet_ids created beside a raw_tweets an earlier version filled
-- takes its ids once (the caller runs this only while raw_tweet_ids is empty).
INSERT INTO raw_tweet_ids (tweet_id) SELECT tweet_id FROM raw_tweets;
