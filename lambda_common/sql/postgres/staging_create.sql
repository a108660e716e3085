-- A session-private table for one cycle's rows (duplicates allowed): raw_tweets's columns
-- and each row's hashtag keys as a JSON array (text), which staging_merge turns into
-- raw_hashtags rows.
DROP TABLE IF EXISTS staging_tweets;
CREATE TEMP TABLE staging_tweets (LIKE raw_tweets);
ALTER TABLE staging_tweets ADD COLUMN hashtags text;
