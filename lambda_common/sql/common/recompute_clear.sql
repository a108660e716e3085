-- make recompute: the ledger (with the rows COPY rejected), raw_tweets and raw_hashtags
-- are rebuilt from the master dataset alone.
DELETE FROM load_ledger;
DELETE FROM load_rejects;
DELETE FROM raw_hashtags;
DELETE FROM raw_tweets;
