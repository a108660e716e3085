-- make status is a health check and must end: cancel any of its queries that runs longer
-- (milliseconds; for the whole session, which only runs the status queries).
SET statement_timeout TO %(ms)s;
