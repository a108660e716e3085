-- The objects' ranges, many rows a statement (psycopg2's execute_values fills in the
-- VALUES list: the placeholder below is its only one).
INSERT INTO recompute_ranges (slot, kafka_partition, first_offset, last_offset) VALUES %s;
