-- An operator has seen this recorded loss of a topic (make batch-ack-loss): only the
-- ranges the command showed are acknowledged, one by its key each, so a loss recorded
-- after the operator looked stays open.
UPDATE lost_offsets
SET acknowledged_at = %(now)s
WHERE topic = %(topic)s
  AND generation = %(generation)s
  AND kafka_partition = %(kafka_partition)s
  AND first_offset = %(first_offset)s
  AND acknowledged_at IS NULL;
