-- The views' sum columns that are not yet the contract's exact numeric(38,0): warehouses
-- created before the sums became exact hold them as bigint. ensure_schema reads this in
-- its transaction, right after schema.sql, and migrates (or refuses to start) when any
-- row comes back. current_schema() is where schema.sql created the tables (the first
-- schema of search_path). Only the PostgreSQL catalog tables and functions, which
-- Redshift keeps too (its PG_TABLE_DEF is built on them); current_schema() is a leader-node
-- function there, which is why no SVV_ view is read here.
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_catalog.pg_attribute AS a
JOIN pg_catalog.pg_class AS c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema()
  AND c.relname IN ('batch_view', 'batch_daily', 'speed_view')
  AND a.attname IN ('followers_sum', 'favorite_sum', 'retweet_sum')
  AND format_type(a.atttypid, a.atttypmod) <> 'numeric(38,0)'
ORDER BY c.relname, a.attname;
