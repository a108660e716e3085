-- Hour by hour totals of one location over the last hours (the current UTC hour and the
-- hours - 1 before it), newest hour first. The location is matched as the pipeline
-- groups it: surrounding ASCII whitespace trimmed, blank meaning (unknown).
-- params: location (required), hours=48
SELECT
    v.event_hour,
    v.tweet_count,
    v.followers_sum,
    v.favorite_sum,
    v.retweet_sum,
    CASE WHEN v.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
FROM serving_view AS v
CROSS JOIN (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
WHERE v.location = %(location)s AND v.event_hour >= %(since)s
ORDER BY v.event_hour DESC
