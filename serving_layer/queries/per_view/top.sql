-- The {noun} with the most tweets over the last hours (the current UTC hour and the
-- hours - 1 before it), with their sums and the number of hours they appear in.{note}
-- params: hours=24, limit=10
SELECT
    {keys},
    -- The casts give both warehouses the same output types; the sums stay exact
    -- DECIMAL(38,0), as in the views (a bigint could overflow).
    CAST(SUM(tweet_count) AS BIGINT) AS tweet_count,
    CAST(SUM(followers_sum) AS DECIMAL(38, 0)) AS followers_sum,
    CAST(SUM(favorite_sum) AS DECIMAL(38, 0)) AS favorite_sum,
    CAST(SUM(retweet_sum) AS DECIMAL(38, 0)) AS retweet_sum,
    COUNT(*) AS active_hours
FROM {serving}
WHERE event_hour >= %(since)s
GROUP BY {keys}
ORDER BY SUM(tweet_count) DESC, {keys}
LIMIT %(limit)s
