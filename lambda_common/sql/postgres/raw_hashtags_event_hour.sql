-- raw_hashtags by hour, for a rebuild of some hours (relation_tweet_hashtags.sql); run
-- after the upgrade that adds the column to an older table.
CREATE INDEX IF NOT EXISTS raw_hashtags_event_hour ON raw_hashtags (event_hour);
