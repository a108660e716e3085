-- The serving layer: batch hours before the horizon, speed hours at or after it. One
-- statement reads both tables and the horizon in one snapshot, and the batch layer moves
-- the horizon in the transaction that rebuilds batch_view, so no (hour, location) row
-- is ever counted by both layers. Before the first batch cycle all comes from speed.
CREATE OR REPLACE VIEW serving_view AS
WITH h AS (SELECT MAX(horizon) AS horizon FROM batch_horizon)
SELECT b.event_hour, b.location, b.tweet_count, b.followers_sum, b.favorite_sum, b.retweet_sum
FROM batch_view AS b
CROSS JOIN h
WHERE b.event_hour < h.horizon
UNION ALL
SELECT s.event_hour, s.location, s.tweet_count, s.followers_sum, s.favorite_sum, s.retweet_sum
FROM speed_view AS s
CROSS JOIN h
WHERE h.horizon IS NULL OR s.event_hour >= h.horizon;
