-- The schema ensure_schema creates the pipeline's tables in (the first of the search
-- path), and whether QUERY_DSN's user exists: the pipeline grants it reads only then (on
-- Redshift the operator creates that user; docs/aws.md). pg_user lists the login
-- roles on PostgreSQL and the users on Redshift alike.
SELECT current_schema(), EXISTS (SELECT 1 FROM pg_user WHERE usename = %(reader)s);
