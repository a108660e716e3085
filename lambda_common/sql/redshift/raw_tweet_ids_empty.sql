-- Whether raw_tweet_ids has no row yet while raw_tweets has some (an upgraded warehouse).
SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM raw_tweet_ids LIMIT 1) AS i) = 0
   AND (SELECT COUNT(*) FROM (SELECT 1 FROM raw_tweets LIMIT 1) AS t) = 1;
