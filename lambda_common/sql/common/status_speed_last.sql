-- The speed layer's newest micro-batch.
SELECT batch_id, finished_at, input_rows, duration_ms
FROM speed_batches
ORDER BY finished_at DESC, batch_id DESC
LIMIT 1;
