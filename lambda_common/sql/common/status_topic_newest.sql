-- The newest incarnation of the topic the batch layer has registered (none: it has not
-- read the topic yet).
SELECT generation, topic_id, started_at
FROM batch_topics
WHERE topic = %(topic)s
ORDER BY generation DESC
LIMIT 1;
