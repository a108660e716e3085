-- The ranges are counted: the session's temporary table is not needed any more.
DROP TABLE recompute_ranges;
