-- make verify: the lines of some master objects into staged; <scan>: master_scan.sql over
-- those objects.
INSERT INTO staged
SELECT tweet_id, event_hour, location, lang, user_id, followers_count, favorite_count,
       retweet_count, kafka_partition, kafka_offset, hashtags, generation, filename
FROM ({scan}) AS objects
