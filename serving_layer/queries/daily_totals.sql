-- Totals per UTC day over the last days (today and the days - 1 before it), newest day
-- first: tweets, followers, favorites, retweets and the number of distinct locations.
-- params: days=30
SELECT
    CAST(DATE_TRUNC('day', event_hour) AS DATE) AS event_day,
    CAST(SUM(tweet_count) AS BIGINT) AS tweet_count,
    CAST(SUM(followers_sum) AS BIGINT) AS followers_sum,
    CAST(SUM(favorite_sum) AS BIGINT) AS favorite_sum,
    CAST(SUM(retweet_sum) AS BIGINT) AS retweet_sum,
    COUNT(DISTINCT location) AS locations
FROM serving_view
WHERE event_hour >= %(since)s
GROUP BY CAST(DATE_TRUNC('day', event_hour) AS DATE)
ORDER BY event_day DESC
