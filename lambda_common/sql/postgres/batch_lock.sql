-- Serialises the batch layer's writers (cycles of every partition set, make recompute,
-- make batch-reset) on a table nobody reads, so readers of load_ledger never wait.
LOCK TABLE batch_lock IN EXCLUSIVE MODE;
