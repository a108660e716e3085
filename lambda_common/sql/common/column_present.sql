-- Whether a table of the schema ensure_schema creates tables in has a column: warehouses
-- created by an earlier version lack the columns added since (raw_tweets.lang). Only the
-- PostgreSQL catalog tables, which Redshift keeps too (see sum_columns_outdated.sql).
SELECT COUNT(*)
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
  AND c.relname = %(table)s
  AND a.attname = %(column)s
  AND NOT a.attisdropped;
