-- Totals per UTC day over the last days (today and the days - 1 before it), newest day
-- first: tweets, followers, favorites, retweets and the number of distinct locations.
-- params: days=30
-- Days wholly before the horizon's day come from batch_daily (kept with batch_view, in
-- the transaction that moves the horizon); the horizon's day and later are added up from
-- serving_view, which serves them from both layers. One statement, so one snapshot. The
-- day boundary is a scalar subquery, not a join: the warehouse can then bound its index
-- scans with it (a join left PostgreSQL reading every hour of batch_view: 60 ms -> 5 ms).
-- The DECIMAL(38,0) sums cross the UNION ALL as text, cast back after it: Redshift gives
-- a DECIMAL column of a set operation at most 19 digits (see view_serving.sql), and a
-- day's sum has more. Added up, SUM of DECIMAL(38,0) is DECIMAL(38,0) on Redshift.
SELECT
    t.event_day,
    t.tweet_count,
    CAST(t.followers_sum AS DECIMAL(38, 0)) AS followers_sum,
    CAST(t.favorite_sum AS DECIMAL(38, 0)) AS favorite_sum,
    CAST(t.retweet_sum AS DECIMAL(38, 0)) AS retweet_sum,
    t.locations
FROM (
    SELECT
        d.event_day,
        d.tweet_count,
        CAST(d.followers_sum AS VARCHAR(40)) AS followers_sum,
        CAST(d.favorite_sum AS VARCHAR(40)) AS favorite_sum,
        CAST(d.retweet_sum AS VARCHAR(40)) AS retweet_sum,
        d.locations
    FROM batch_daily AS d
    WHERE d.event_day >= %(since)s
      AND d.event_day < (
          SELECT COALESCE(DATE_TRUNC('day', MAX(horizon)), CAST('0001-01-01' AS TIMESTAMP))
          FROM batch_horizon
      )
    UNION ALL
    SELECT
        CAST(DATE_TRUNC('day', v.event_hour) AS DATE) AS event_day,
        CAST(SUM(v.tweet_count) AS BIGINT) AS tweet_count,
        CAST(CAST(SUM(v.followers_sum) AS DECIMAL(38, 0)) AS VARCHAR(40)) AS followers_sum,
        CAST(CAST(SUM(v.favorite_sum) AS DECIMAL(38, 0)) AS VARCHAR(40)) AS favorite_sum,
        CAST(CAST(SUM(v.retweet_sum) AS DECIMAL(38, 0)) AS VARCHAR(40)) AS retweet_sum,
        COUNT(DISTINCT v.location) AS locations
    FROM serving_view AS v
    WHERE v.event_hour >= %(since)s
      AND v.event_hour >= (
          SELECT COALESCE(DATE_TRUNC('day', MAX(horizon)), CAST('0001-01-01' AS TIMESTAMP))
          FROM batch_horizon
      )
    GROUP BY CAST(DATE_TRUNC('day', v.event_hour) AS DATE)
) AS t
ORDER BY t.event_day DESC
