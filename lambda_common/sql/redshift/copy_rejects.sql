-- The rows one COPY rejected (its query_id from copy_history.sql): file, line, column,
-- error code and reason, one row each. Redshift pads these char columns: trimmed here.
-- The caller asks for one more row than the COPY's error_count, to see if any is extra.
SELECT
    TRIM(e.file_name),
    e.line_number,
    TRIM(e.column_name),
    e.error_code,
    TRIM(e.error_message)
FROM sys_load_error_detail AS e
WHERE e.query_id = %(query_id)s
ORDER BY TRIM(e.file_name), e.line_number
LIMIT %(limit)s;
