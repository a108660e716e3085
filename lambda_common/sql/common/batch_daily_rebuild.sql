-- batch_view's totals per UTC day, for the whole days since <= day < until (day-aligned
-- bounds: batch_layer/hours.py day_ranges); run in the transaction that rebuilds those
-- hours of batch_view.
DELETE FROM batch_daily
WHERE event_day >= CAST(%(since)s AS DATE) AND event_day < CAST(%(until)s AS DATE);
INSERT INTO batch_daily (event_day, tweet_count, followers_sum, favorite_sum, retweet_sum, locations)
SELECT
    CAST(DATE_TRUNC('day', event_hour) AS DATE),
    SUM(tweet_count),
    SUM(followers_sum),
    SUM(favorite_sum),
    SUM(retweet_sum),
    COUNT(DISTINCT location)
FROM batch_view
WHERE event_hour >= %(since)s AND event_hour < %(until)s
GROUP BY CAST(DATE_TRUNC('day', event_hour) AS DATE);
