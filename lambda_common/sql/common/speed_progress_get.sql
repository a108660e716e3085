-- The streaming query (checkpoint) that last wrote the speed tables and its last
-- micro-batch applied; no row before the first.
SELECT query_id, batch_id FROM speed_progress;
