-- The serving view's most recent rows: newest hour first, then the most tweets. The
-- layer column names the layer that served each row: batch for hours before the batch
-- horizon, speed for hours at or after it (all speed before the first batch cycle).
-- params: limit=20
SELECT
    v.event_hour,
    v.location,
    v.tweet_count,
    v.followers_sum,
    v.favorite_sum,
    v.retweet_sum,
    CASE WHEN v.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
FROM serving_view AS v
CROSS JOIN (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
ORDER BY v.event_hour DESC, v.tweet_count DESC, v.location
LIMIT %(limit)s
