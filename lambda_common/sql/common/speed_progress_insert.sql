-- The first micro-batch ever applied to this warehouse's speed tables: speed_progress
-- has no row yet (later ones update it: speed_progress_update).
INSERT INTO speed_progress (query_id, batch_id, updated_at)
VALUES (%(query_id)s, %(batch_id)s, %(now)s);
