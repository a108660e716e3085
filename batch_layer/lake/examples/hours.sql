-- Tweets per event hour over the objects landed in the last two days (a filter on dt
-- reads only those days' objects), with the copies that were duplicates.
SELECT event_hour,
       COUNT(DISTINCT tweet_id) AS tweets,
       COUNT(*) - COUNT(DISTINCT tweet_id) AS duplicate_copies
FROM master_tweets
WHERE dt >= CAST(now() AT TIME ZONE 'UTC' AS DATE) - 1
GROUP BY event_hour
ORDER BY event_hour DESC
LIMIT 48
