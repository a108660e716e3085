-- The rows Redshift rejected in this session's last COPY.
SELECT TRIM(filename), line_number, TRIM(colname), TRIM(err_reason)
FROM stl_load_errors
WHERE query = pg_last_copy_id()
ORDER BY line_number
LIMIT 10;
