-- The tweet ids landed more than once (every layer counts such a tweet once: its first
-- valid copy by generation, partition and offset), the most copied first.
SELECT tweet_id,
       COUNT(*) AS copies,
       MIN(generation) AS first_generation,
       arg_min(kafka_partition, (generation, kafka_partition, kafka_offset)) AS first_partition,
       arg_min(kafka_offset, (generation, kafka_partition, kafka_offset)) AS first_offset
FROM master_tweets
GROUP BY tweet_id
HAVING COUNT(*) > 1
ORDER BY copies DESC, tweet_id
LIMIT 20
