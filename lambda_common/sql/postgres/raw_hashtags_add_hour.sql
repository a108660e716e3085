-- Upgrade in place: raw_hashtags of an earlier version gets each row's tweet's event_hour
-- (from raw_tweets, which has every tweet raw_hashtags has), so a rebuild of some hours
-- reads only those hours of it.
ALTER TABLE raw_hashtags ADD COLUMN event_hour timestamp;
UPDATE raw_hashtags AS h SET event_hour = t.event_hour FROM raw_tweets AS t WHERE t.tweet_id = h.tweet_id;
ALTER TABLE raw_hashtags ALTER COLUMN event_hour SET NOT NULL;
