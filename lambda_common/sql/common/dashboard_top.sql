-- The dashboard's top keys of one serving view since a time: tweets per key, most first,
-- with the window's total over every key (the denominator of each key's share).
WITH w AS (
    SELECT {keys}, SUM(tweet_count) AS tweets
    FROM {serving}
    WHERE event_hour >= %(since)s
    GROUP BY {keys}
)
SELECT {keys}, CAST(tweets AS BIGINT) AS tweets, CAST(SUM(tweets) OVER () AS BIGINT) AS total
FROM w
ORDER BY tweets DESC, {keys}
LIMIT %(limit)s;
