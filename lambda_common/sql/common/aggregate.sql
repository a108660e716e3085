-- THE aggregation of the views (CONTRACT.md section 2), over de-duplicated events.
-- Both layers run this text; {source} and {where} are filled in by code with fixed
-- relation names and conditions, never with data.
SELECT
    event_hour,
    location,
    COUNT(*)             AS tweet_count,
    SUM(followers_count) AS followers_sum,
    SUM(favorite_count)  AS favorite_sum,
    SUM(retweet_count)   AS retweet_sum
FROM {source}
WHERE {where}
GROUP BY event_hour, location
