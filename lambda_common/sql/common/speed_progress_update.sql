-- Recorded in the transaction that applies the micro-batch: applied once, whatever Spark
-- replays. The row exists (speed_progress_get found it); speed_progress_insert otherwise.
UPDATE speed_progress
SET query_id = %(query_id)s, batch_id = %(batch_id)s, updated_at = %(now)s;
