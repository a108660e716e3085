-- A view's serving view, derived from its definition: its batch table for hours before
-- the horizon, its speed table for hours at or after it. One statement reads both tables
-- and the horizon in one snapshot, and the batch layer moves the horizon in the
-- transaction that rebuilds every batch table, so no row is ever counted by both layers.
-- Before the first batch cycle all comes from speed.
--
-- The DECIMAL(38,0) sums cross the UNION ALL as text and are cast back after it. Amazon
-- documents the precision of a DECIMAL column of UNION, INTERSECT and EXCEPT (and of
-- COALESCE and DECODE) as min(max(p1-s1, p2-s2) + scale, 19): two DECIMAL(38,0) branches
-- would give DECIMAL(19,0), and a sum past 10^19 - 1 (two counts of 2^63 - 1) would
-- overflow. A number cast to VARCHAR and back is exact on Redshift and PostgreSQL alike,
-- and 40 characters hold 38 digits and a sign. tweet_count is a BIGINT in both tables.
CREATE OR REPLACE VIEW {serving} AS
WITH h AS (SELECT MAX(horizon) AS horizon FROM batch_horizon)
SELECT
    {u_keys},
    u.tweet_count,
    CAST(u.followers_sum AS DECIMAL(38, 0)) AS followers_sum,
    CAST(u.favorite_sum AS DECIMAL(38, 0)) AS favorite_sum,
    CAST(u.retweet_sum AS DECIMAL(38, 0)) AS retweet_sum
FROM (
{batch_rows}
    WHERE b.event_hour < h.horizon
    UNION ALL
{speed_rows}
    WHERE h.horizon IS NULL OR s.event_hour >= h.horizon
) AS u;
