-- Upgrade in place: raw_hashtags of an earlier version gets each row's tweet's event_hour
-- (from raw_tweets). Redshift adds a NOT NULL column only with a default; the default is
-- never used, since every row is filled here and every later row is loaded with its hour.
ALTER TABLE raw_hashtags ADD COLUMN event_hour timestamp NOT NULL DEFAULT '1970-01-01 00:00:00';
UPDATE raw_hashtags SET event_hour = t.event_hour FROM raw_tweets AS t WHERE t.tweet_id = raw_hashtags.tweet_id;
