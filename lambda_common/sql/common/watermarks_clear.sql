-- A new incarnation of a topic vouches for its own partitions from scratch.
DELETE FROM batch_watermarks WHERE topic = %(topic)s;
