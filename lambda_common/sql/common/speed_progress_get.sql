-- The streaming query (checkpoint) that last wrote the speed tables and its last
-- micro-batch applied (NULLs before the first), with the batch horizon: one statement,
-- read after speed_lock. The horizon side is one row even on an empty batch_horizon.
SELECT p.query_id, p.batch_id, h.horizon
FROM (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
LEFT JOIN speed_progress AS p ON 1 = 1;
