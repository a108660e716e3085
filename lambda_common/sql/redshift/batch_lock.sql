-- Serialises the batch layer's writers (cycles of every partition set, make recompute,
-- make batch-reset). Redshift's LOCK is ACCESS EXCLUSIVE: it blocks reads of the table
-- too, which is why it is batch_lock, which nobody reads, and not load_ledger.
LOCK batch_lock;
