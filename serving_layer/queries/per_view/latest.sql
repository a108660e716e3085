-- The serving view's most recent rows: those of the newest day of data (the 24 hours up
-- to the newest hour the pipeline holds, so a replay of old events shows too), newest
-- hour first, then the most tweets. The layer column names the layer that served each
-- row: batch for hours before the batch horizon, speed for hours at or after it (all
-- speed before the first batch cycle).
-- params: limit=20
WITH tagged AS (
{tagged}
)
SELECT v.*
FROM tagged AS v
-- The newest hour from the two tables' own indexes: a bound on event_hour lets the
-- warehouse read one day instead of sorting the whole view (51 ms -> 1 ms at 216,000 rows).
WHERE v.event_hour > (
    SELECT GREATEST(MAX(b.event_hour), (SELECT MAX(s.event_hour) FROM {speed} AS s))
    FROM {batch} AS b
) - INTERVAL '1 day'
ORDER BY v.event_hour DESC, v.tweet_count DESC, {v_keys}
LIMIT %(limit)s
