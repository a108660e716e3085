-- How many offset ranges of the topic retention deleted before they were landed:
-- unacknowledged (make status FAILs on each) and acknowledged (make batch-ack-loss).
SELECT
    COALESCE(SUM(CASE WHEN acknowledged_at IS NULL THEN 1 ELSE 0 END), 0),
    COALESCE(SUM(CASE WHEN acknowledged_at IS NULL THEN 0 ELSE 1 END), 0)
FROM lost_offsets
WHERE topic = %(topic)s;
