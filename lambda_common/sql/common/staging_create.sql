-- A session-private table for one cycle's rows (duplicates allowed), shaped like raw_tweets.
DROP TABLE IF EXISTS staging_tweets;
CREATE TEMP TABLE staging_tweets (LIKE raw_tweets);
