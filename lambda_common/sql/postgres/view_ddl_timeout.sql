-- A view's DDL (ACCESS EXCLUSIVE) waits for every open transaction that has read the view,
-- and every new reader queues behind it: one idle BI session would stall the batch cycle
-- and then all readers. Give up after the given milliseconds instead (LockNotAvailable), for
-- this transaction only: ensure_schema keeps the old definition until its next run.
SET LOCAL lock_timeout TO %(ms)s;
