-- The least and greatest staged tweet_id (varchar order, as the sort key's zone maps
-- keep them): the de-duplication probe reads raw_tweet_ids only within this range.
SELECT MIN(tweet_id), MAX(tweet_id) FROM staging_tweets;
