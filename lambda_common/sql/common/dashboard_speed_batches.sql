-- The speed layer's newest micro-batches (speed_batches keeps a day of them), newest first:
-- the primary key's order, which is the order the job ran them.
SELECT batch_id, finished_at, duration_ms, input_rows, rejects, max_event_time
FROM speed_batches
ORDER BY batch_id DESC
LIMIT %(limit)s;
