-- A session-private table for the (hour, location) groups one micro-batch changed.
DROP TABLE IF EXISTS speed_staging;
CREATE TEMP TABLE speed_staging (LIKE speed_view);
