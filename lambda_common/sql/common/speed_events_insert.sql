-- A micro-batch's valid events into the session's staging table; the placeholder becomes
-- a multi-row VALUES list (one statement unless the rows pass speed_layer.view's size
-- budget under Redshift's 16 MB per statement).
INSERT INTO speed_staged_tweets (tweet_id, event_hour, location, lang, user_id, followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset) VALUES %s;
