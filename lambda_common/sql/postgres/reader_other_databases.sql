-- Every database of the server but the pipeline's that takes connections (postgres,
-- template1, and any other): QUERY_DSN's user may connect to none of them
-- (reader_other_database_revoke.sql).
SELECT datname FROM pg_database WHERE datallowconn AND datname <> %(database)s ORDER BY datname;
