-- The top of the serving view from each layer: for speed and for batch, the rows of the
-- newest hours that layer serves, most tweets first (the table make demo refreshes).
-- params: limit=5
WITH h AS (SELECT MAX(horizon) AS horizon FROM batch_horizon),
tagged AS (
    SELECT
        v.event_hour,
        {v_keys},
        v.tweet_count,
        v.followers_sum,
        v.favorite_sum,
        v.retweet_sum,
        CASE WHEN v.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
    FROM {serving} AS v
    CROSS JOIN h
),
ranked AS (
    SELECT
        tagged.*,
        ROW_NUMBER() OVER (
            PARTITION BY layer ORDER BY event_hour DESC, tweet_count DESC, {keys}
        ) AS row_rank
    FROM tagged
)
SELECT layer, event_hour, {keys}, tweet_count, followers_sum, favorite_sum, retweet_sum
FROM ranked
WHERE row_rank <= %(limit)s
ORDER BY layer DESC, event_hour DESC, tweet_count DESC, {keys}
