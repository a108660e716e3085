-- One-time set-up of the pipeline's Redshift database (docs/aws.md, "Going to AWS"): the
-- read-only user of QUERY_DSN, and no table or temporary table created by anyone but the
-- pipeline's user (WAREHOUSE_DSN). Run once, as a superuser, connected to the pipeline's
-- database itself (schemas and their privileges belong to one database), with psql:
--
--   psql "host=ENDPOINT port=5439 dbname=analytics user=admin sslmode=verify-full sslrootcert=system" \
--     -v database=analytics -v pipeline_user=etl_user -v reader=lambda_reader -f aws/redshift/setup.sql
--
-- Optional: -v schema=... (public), -v connection_limit=... (QUERY_CONNECTION_LIMIT, 20),
-- -v statement_timeout_ms=... (QUERY_STATEMENT_TIMEOUT in milliseconds, 60000).
-- psql asks for the reader's password, so it is in no file, history or process list.
-- make init then grants the reader its reads (lambda_common/sql/common/reader_grants.sql).

\set ON_ERROR_STOP on
\if :{?database}
\else
  \echo 'setup.sql: give -v database=NAME (the database of WAREHOUSE_DSN)'
  \quit
\endif
\if :{?pipeline_user}
\else
  \echo 'setup.sql: give -v pipeline_user=NAME (the user of WAREHOUSE_DSN)'
  \quit
\endif
\if :{?reader}
\else
  \echo 'setup.sql: give -v reader=NAME (the user of QUERY_DSN, created here)'
  \quit
\endif
\if :{?schema}
\else
  \set schema public
\endif
\if :{?connection_limit}
\else
  \set connection_limit 20
\endif
\if :{?statement_timeout_ms}
\else
  \set statement_timeout_ms 60000
\endif
\prompt 'Password of the read-only user (8 to 64 characters; an upper-case letter, a lower-case letter and a digit): ' reader_password

-- The reader: no database or user creation, at most connection_limit sessions (so readers
-- never take the connections the pipeline needs), and its sessions' default timeout.
CREATE USER :"reader" PASSWORD :'reader_password' NOCREATEDB NOCREATEUSER CONNECTION LIMIT :connection_limit;
ALTER USER :"reader" SET statement_timeout TO :statement_timeout_ms;

-- Every user may create tables in public and temporary tables by default (as members of
-- PUBLIC): taken away from all, given back to the pipeline's user, whose make init
-- creates the tables and whose loads stage through temporary tables.
REVOKE CREATE ON SCHEMA :"schema" FROM PUBLIC;
GRANT CREATE ON SCHEMA :"schema" TO :"pipeline_user";
REVOKE TEMP ON DATABASE :"database" FROM PUBLIC;
GRANT TEMP ON DATABASE :"database" TO :"pipeline_user";
