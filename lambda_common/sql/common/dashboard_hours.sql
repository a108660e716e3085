-- The dashboard's hours of one serving view: its tweets per hour since a time, each hour
-- labelled by the layer that serves it (the serving view's own rule: hours before the
-- horizon from batch, the rest from speed), and the horizon. One statement reads the
-- horizon and the serving view in one snapshot, so the labels agree with what is served;
-- a window with no rows still returns one row, carrying the horizon.
WITH h AS (SELECT MAX(horizon) AS horizon FROM batch_horizon),
hours AS (
    SELECT event_hour, CAST(SUM(tweet_count) AS BIGINT) AS tweets
    FROM {serving}
    WHERE event_hour >= %(since)s
    GROUP BY event_hour
)
SELECT
    h.horizon,
    hours.event_hour,
    hours.tweets,
    CASE WHEN hours.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
FROM h
LEFT JOIN hours ON 1 = 1
ORDER BY hours.event_hour;
