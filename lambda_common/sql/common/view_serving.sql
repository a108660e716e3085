-- A view's serving view, derived from its definition: its batch table for hours before
-- the horizon, its speed table for hours at or after it. One statement reads both tables
-- and the horizon in one snapshot, and the batch layer moves the horizon in the
-- transaction that rebuilds every batch table, so no row is ever counted by both layers.
-- Before the first batch cycle all comes from speed.
CREATE OR REPLACE VIEW {serving} AS
WITH h AS (SELECT MAX(horizon) AS horizon FROM batch_horizon)
SELECT {b_columns}
FROM {batch} AS b
CROSS JOIN h
WHERE b.event_hour < h.horizon
UNION ALL
SELECT {s_columns}
FROM {speed} AS s
CROSS JOIN h
WHERE h.horizon IS NULL OR s.event_hour >= h.horizon;
