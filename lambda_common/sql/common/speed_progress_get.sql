-- The streaming query (checkpoint) that last wrote the speed tables and its last
-- micro-batch applied (NULLs before the first), with the batch horizon and the newest
-- event hour the speed layer has seen (its de-duplication's clock): one statement, read
-- after speed_lock. The horizon and clock sides are one row each even on empty tables.
SELECT p.query_id, p.batch_id, h.horizon, c.newest
FROM (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
CROSS JOIN (SELECT MAX(newest) AS newest FROM speed_clock) AS c
LEFT JOIN speed_progress AS p ON 1 = 1;
