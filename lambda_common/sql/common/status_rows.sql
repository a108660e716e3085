-- The rows of one table; the table is an identifier the caller quotes and fills in.
SELECT COUNT(*) FROM {relation};
