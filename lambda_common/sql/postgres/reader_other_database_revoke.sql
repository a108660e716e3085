-- A database other than the pipeline's ({database}; {reader}: QUERY_DSN's user; both
-- identifiers quoted by the caller). PUBLIC, so every role, may connect to a new database
-- and create temporary tables in it, and once in, large objects too (lo_create is
-- PUBLIC's in every database until revoked there). Nobody needs these databases but the
-- superuser, whom privileges do not bind, so neither PUBLIC nor the reader keeps either.
REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM {reader};
