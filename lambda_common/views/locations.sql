-- view: locations
-- key: location varchar(800)
-- reads: tweets
-- tables: batch_view speed_view serving_view
--
-- Tweets per hour and author location (CONTRACT section 2). The location is already the
-- grouping key (lambda_common.contract.normalize_location). varchar lengths are bytes on
-- Redshift: 800 holds 200 code points of UTF-8.
-- The counts are cast to DECIMAL(38,0) before they are added: one count may be up to
-- 2^63 - 1, so two of them overflow a bigint, and SUM(bigint) is bigint on Redshift and
-- in Spark. SUM of DECIMAL(38,0) is DECIMAL(38,0) there, numeric on PostgreSQL.
SELECT
    event_hour,
    location,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweets
GROUP BY event_hour, location
