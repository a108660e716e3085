-- An operator has seen the recorded losses of a topic (make batch-ack-loss).
UPDATE lost_offsets
SET acknowledged_at = %(now)s
WHERE topic = %(topic)s AND acknowledged_at IS NULL;
