-- The databases in which QUERY_DSN's user has settings of its own (ALTER ROLE ... IN
-- DATABASE ... SET, which any role may do to itself, e.g. a search_path that hides the
-- pipeline's tables from its own sessions). ALTER ROLE ... RESET ALL leaves those, so
-- the set-up resets each (reader_role_database_reset.sql).
SELECT d.datname
FROM pg_db_role_setting AS s
JOIN pg_database AS d ON d.oid = s.setdatabase
JOIN pg_roles AS r ON r.oid = s.setrole
WHERE r.rolname = %(reader)s
ORDER BY d.datname;
