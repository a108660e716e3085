-- The rows the session's last COPY loaded (Amazon: PG_LAST_COPY_COUNT), read in the COPY's
-- own transaction right after it: fewer than its objects hold means COPY rejected some.
SELECT pg_last_copy_count();
