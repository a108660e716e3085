-- Register an incarnation of a topic (its first id, or a new one after make batch-reset).
INSERT INTO batch_topics (topic, generation, topic_id, started_at)
VALUES (%(topic)s, %(generation)s, %(topic_id)s, %(now)s);
