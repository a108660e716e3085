-- The objects the load ledger holds per topic: make recompute clears the raw tables of
-- every topic, so it refuses while the ledger holds another topic's objects, or holds
-- this topic's while the master dataset shows none (a mistyped KAFKA_TOPIC or S3_BUCKET).
SELECT topic, COUNT(*) FROM load_ledger GROUP BY topic;
