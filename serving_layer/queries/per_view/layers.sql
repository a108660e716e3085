-- The top of the serving view from each layer: for speed and for batch, the rows of the
-- newest hours that layer serves, most tweets first (the table make demo refreshes).
-- params: limit=5
WITH tagged AS (
{tagged}
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
