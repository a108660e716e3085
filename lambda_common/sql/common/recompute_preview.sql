-- What make recompute would clear, shown before it asks: the ledger's objects and the
-- raw tables' rows.
SELECT
    (SELECT COUNT(*) FROM load_ledger),
    (SELECT COUNT(*) FROM raw_tweets),
    (SELECT COUNT(*) FROM raw_hashtags);
