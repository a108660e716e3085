-- A micro-batch's events' distinct hashtag keys (one row per event and key), as
-- speed_events_insert.
INSERT INTO speed_staged_hashtags (tweet_id, event_hour, hashtag) VALUES %s;
