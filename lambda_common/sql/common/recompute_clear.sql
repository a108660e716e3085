-- make recompute: the ledger and raw_tweets are rebuilt from the master dataset alone.
DELETE FROM load_ledger;
DELETE FROM raw_tweets;
