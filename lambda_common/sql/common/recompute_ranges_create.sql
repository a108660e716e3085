-- make recompute on Redshift: each object's (partition, first, last) offset range, by its
-- place in the load (slot), for the one count of the staged rows (recompute_count).
DROP TABLE IF EXISTS recompute_ranges;
CREATE TEMP TABLE recompute_ranges (
    slot            integer NOT NULL,
    kafka_partition integer NOT NULL,
    first_offset    bigint  NOT NULL,
    last_offset     bigint  NOT NULL
);
