-- The languages of the tweets over the last hours (the current UTC hour and the hours - 1
-- before it), most tweets first, each with its share of all the tweets in that window in
-- percent, to two decimals. Tweets without a language count as (unknown).
-- params: hours=24, limit=20
WITH per_lang AS (
    SELECT lang, CAST(SUM(tweet_count) AS BIGINT) AS tweets
    FROM serving_languages
    WHERE event_hour >= %(since)s
    GROUP BY lang
),
-- Each tweet has one language, so the window's total is the sum over every language, not
-- only over those shown.
window_total AS (
    SELECT CAST(SUM(tweets) AS BIGINT) AS total FROM per_lang
)
SELECT
    p.lang,
    p.tweets AS tweet_count,
    -- Rounded half up in whole-number arithmetic, which both warehouses do alike:
    -- (10000 * tweets + total / 2) / total hundredths of a percent.
    CAST(
        CAST((10000 * p.tweets + t.total / 2) / t.total AS DECIMAL(7, 0)) / 100
        AS DECIMAL(5, 2)
    ) AS share_percent
FROM per_lang AS p
CROSS JOIN window_total AS t
ORDER BY p.tweets DESC, p.lang
LIMIT %(limit)s
