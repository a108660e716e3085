-- Per landing day (dt, the day of each object's first Kafka timestamp): the valid events
-- landed, the distinct tweets among them, and the rejected messages kept beside them.
SELECT dt,
       COUNT(*) AS events,
       COUNT(DISTINCT tweet_id) AS tweets,
       (SELECT COUNT(*) FROM master_rejects AS r WHERE r.dt = t.dt) AS rejects
FROM master_tweets AS t
GROUP BY dt
ORDER BY dt
