-- The reader role of the local stack (QUERY_DSN's user), run by the superuser on every
-- start after the role exists: its attributes, connection limit and password are
-- (re)applied, and any session defaults it gave itself (ALTER ROLE ... SET, which any
-- role may do to itself) are dropped: here those for every database, and those for one
-- database by reader_role_database_reset.sql. {reader} and {database} are identifiers
-- quoted by the caller.
-- CONNECTION LIMIT (QUERY_CONNECTION_LIMIT): readers can never hold the connections the
-- pipeline needs, and a role cannot raise its own. statement_timeout
-- (QUERY_STATEMENT_TIMEOUT, milliseconds): where its sessions start (psql, a BI tool);
-- PostgreSQL lets any session change it for itself, so it is a default, not a ceiling.
ALTER ROLE {reader} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS CONNECTION LIMIT %(connection_limit)s PASSWORD %(password)s;
ALTER ROLE {reader} RESET ALL;
ALTER ROLE {reader} SET statement_timeout = %(statement_timeout_ms)s;
-- PUBLIC may create temporary tables in a new database; only the owner (the pipeline's
-- role, whose batch and speed layers stage through temporary tables) keeps that right.
REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {reader};
