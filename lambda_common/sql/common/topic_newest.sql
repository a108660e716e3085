-- The newest registered incarnation of a topic.
SELECT generation, topic_id
FROM batch_topics
WHERE topic = %(topic)s
ORDER BY generation DESC
LIMIT 1;
