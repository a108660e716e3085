-- Whether a view of this name exists in the schema ensure_schema creates the pipeline's
-- tables in (current_schema(), the first of the search path). Only PostgreSQL catalog
-- tables, which Redshift keeps too (see sum_columns_outdated.sql). One row, always.
SELECT COUNT(*)
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
  AND c.relname = %(name)s
  AND c.relkind = 'v';
