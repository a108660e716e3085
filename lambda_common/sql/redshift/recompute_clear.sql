-- make recompute: the ledger (with the rows COPY rejected), raw_tweets, raw_hashtags and
-- the ids the de-duplication probes are rebuilt from the master dataset alone.
DELETE FROM load_ledger;
DELETE FROM load_rejects;
DELETE FROM raw_hashtags;
DELETE FROM raw_tweets;
DELETE FROM raw_tweet_ids;
