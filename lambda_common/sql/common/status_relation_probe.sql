-- Whether a relation the pipeline creates exists (undefined_table if not): it is looked up
-- on the search path exactly as the status queries will look it up. The relation is an
-- identifier the caller quotes and fills in (psycopg2.sql.Identifier).
SELECT 1 FROM {relation} LIMIT 0;
