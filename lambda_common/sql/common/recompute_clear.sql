-- make recompute: the ledger, raw_tweets and raw_hashtags are rebuilt from the master
-- dataset alone.
DELETE FROM load_ledger;
DELETE FROM raw_hashtags;
DELETE FROM raw_tweets;
