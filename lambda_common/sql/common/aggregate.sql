-- THE aggregation of the views (CONTRACT.md section 2), over de-duplicated events.
-- Both layers run this text; {source} and {where} are filled in by code with fixed
-- relation names and conditions, never with data.
-- The counts are cast to DECIMAL(38,0) before they are added: a count may be up to
-- 2^63 - 1, so two of them overflow a bigint, and SUM(bigint) is bigint on Redshift and
-- in Spark (where ANSI mode raises on the overflow, crash-looping the job). SUM of
-- DECIMAL(38,0) is DECIMAL(38,0) on Redshift and in Spark, numeric on PostgreSQL.
SELECT
    event_hour,
    location,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM {source}
WHERE {where}
GROUP BY event_hour, location
