-- The status of micro-batches (a replayed batch id replaces its row); a day is kept.
-- Written in a micro-batch's own transaction: <batch_ids> the ids of the rows it brings.
DELETE FROM speed_batches
WHERE batch_id IN %(batch_ids)s OR finished_at < %(finished_at)s - INTERVAL '1 day';
-- Filled by a multi-row VALUES list (one statement for every row it brings).
INSERT INTO speed_batches (batch_id, input_rows, rejects, rows_written, duration_ms, max_event_time, finished_at)
VALUES %s;
