-- The status of one micro-batch (a replayed batch id replaces its row); a day is kept.
DELETE FROM speed_batches
WHERE batch_id = %(batch_id)s OR finished_at < %(finished_at)s - INTERVAL '1 day';
INSERT INTO speed_batches (batch_id, input_rows, rejects, rows_written, duration_ms, max_event_time, finished_at)
VALUES (%(batch_id)s, %(input_rows)s, %(rejects)s, %(rows_written)s, %(duration_ms)s, %(max_event_time)s, %(finished_at)s);
