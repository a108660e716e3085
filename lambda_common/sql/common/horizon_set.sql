-- Replace the single row; the caller passes the larger of the old and new horizon, so it
-- never moves backwards.
DELETE FROM batch_horizon;
INSERT INTO batch_horizon (horizon) VALUES (%(horizon)s);
