-- A session-private table for one cycle's rows (duplicates allowed): raw_tweets's columns
-- and each row's hashtag keys, which COPY's JSON 'auto' loads from the master object's
-- "hashtags" array into a SUPER column; staging_merge turns them into raw_hashtags rows.
DROP TABLE IF EXISTS staging_tweets;
CREATE TEMP TABLE staging_tweets (LIKE raw_tweets);
ALTER TABLE staging_tweets ADD COLUMN hashtags SUPER;
