-- The reader role of the local stack (QUERY_DSN's user), run by the superuser on every
-- start after the role exists: its attributes and password are (re)applied, and any
-- session defaults it gave itself (ALTER ROLE ... SET, which any role may do to itself)
-- are dropped. {reader} and {database} are identifiers quoted by the caller.
ALTER ROLE {reader} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD %(password)s;
ALTER ROLE {reader} RESET ALL;
-- PUBLIC may create temporary tables in a new database; only the owner (the pipeline's
-- role, whose batch and speed layers stage through temporary tables) keeps that right.
REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC;
GRANT CONNECT ON DATABASE {database} TO {reader};
