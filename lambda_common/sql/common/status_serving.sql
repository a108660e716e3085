-- What one view's serving view serves, in one scan: its rows, the tweets they count, and
-- the key groups it serves more than once (it promises none). The serving view and its key
-- columns (event_hour, then the view's keys) are identifiers the caller quotes and fills in.
SELECT
    COALESCE(SUM(served.copies), 0),
    COALESCE(SUM(served.tweets), 0),
    COALESCE(SUM(CASE WHEN served.copies > 1 THEN 1 ELSE 0 END), 0)
FROM (
    SELECT COUNT(*) AS copies, SUM(tweet_count) AS tweets
    FROM {relation}
    GROUP BY {keys}
) AS served;
