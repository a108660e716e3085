-- Record offsets retention deleted before they were landed (a redo records the same
-- range again: replaced, keeping an earlier acknowledgement out of it on purpose).
DELETE FROM lost_offsets
WHERE topic = %(topic)s AND generation = %(generation)s
  AND kafka_partition = %(kafka_partition)s AND first_offset = %(first_offset)s;
INSERT INTO lost_offsets (
    topic, generation, kafka_partition, first_offset, last_offset, detected_at, acknowledged_at
)
VALUES (
    %(topic)s, %(generation)s, %(kafka_partition)s, %(first_offset)s, %(last_offset)s, %(now)s,
    NULL
);
