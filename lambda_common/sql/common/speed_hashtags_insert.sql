-- A micro-batch's events' distinct hashtag keys (one row per event and key, by the
-- event's place in the topic), as speed_events_insert.
INSERT INTO speed_staged_hashtags (kafka_partition, kafka_offset, hashtag) VALUES %s;
