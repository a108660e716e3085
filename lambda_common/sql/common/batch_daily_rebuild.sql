-- batch_view's totals per UTC day; run in the transaction that rebuilds batch_view.
DELETE FROM batch_daily;
INSERT INTO batch_daily (event_day, tweet_count, followers_sum, favorite_sum, retweet_sum, locations)
SELECT
    CAST(DATE_TRUNC('day', event_hour) AS DATE),
    SUM(tweet_count),
    SUM(followers_sum),
    SUM(favorite_sum),
    SUM(retweet_sum),
    COUNT(DISTINCT location)
FROM batch_view
GROUP BY CAST(DATE_TRUNC('day', event_hour) AS DATE);
