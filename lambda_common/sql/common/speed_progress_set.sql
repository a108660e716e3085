-- Recorded in the transaction that applies the micro-batch: applied once, whatever Spark
-- replays.
DELETE FROM speed_progress;
INSERT INTO speed_progress (query_id, batch_id, updated_at)
VALUES (%(query_id)s, %(batch_id)s, %(now)s);
