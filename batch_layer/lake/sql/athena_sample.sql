-- Athena: a sample query, tweets and duplicate copies per landing day of the last week
-- (the filter on dt reads only those days' folders).
SELECT dt, COUNT(DISTINCT tweet_id) AS tweets, COUNT(*) - COUNT(DISTINCT tweet_id) AS duplicates
FROM {database}.master_tweets
WHERE dt >= CAST(current_date - INTERVAL '7' DAY AS varchar)
GROUP BY dt
ORDER BY dt
