-- Where the layers stand, read in one snapshot: the batch horizon, the speed layer's
-- newest micro-batch and the newest event time it has seen, and how many rows and
-- tweets of serving_view each layer serves.
SELECT
    MAX(h.horizon) AS horizon,
    (SELECT MAX(finished_at) FROM speed_batches) AS last_micro_batch,
    (SELECT MAX(max_event_time) FROM speed_batches) AS newest_event,
    -- COUNT of v.event_hour, not of 1: an empty serving_view still joins as one NULL row.
    COUNT(CASE WHEN v.event_hour < h.horizon THEN v.event_hour END) AS batch_rows,
    CAST(SUM(CASE WHEN v.event_hour < h.horizon THEN v.tweet_count END) AS BIGINT) AS batch_tweets,
    COUNT(CASE WHEN h.horizon IS NULL OR v.event_hour >= h.horizon THEN v.event_hour END) AS speed_rows,
    CAST(
        SUM(CASE WHEN h.horizon IS NULL OR v.event_hour >= h.horizon THEN v.tweet_count END)
        AS BIGINT
    ) AS speed_tweets
FROM (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
LEFT JOIN serving_view AS v ON 1 = 1
