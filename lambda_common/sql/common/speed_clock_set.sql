-- The newest event hour seen, moved forward by a micro-batch (in its transaction); then
-- the tweet ids whose hour a later copy could only reach as late are forgotten
-- (<forget>: the new watermark minus the retention, as Spark evicts its state).
DELETE FROM speed_clock;
INSERT INTO speed_clock (newest) VALUES (%(newest)s);
DELETE FROM speed_seen WHERE event_hour <= %(forget)s;
