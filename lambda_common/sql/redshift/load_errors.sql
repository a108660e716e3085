-- Why this session's newest COPY failed: its first rows in SYS_LOAD_ERROR_DETAIL, which
-- exists on provisioned clusters and on Serverless (STL_LOAD_ERRORS is provisioned-only).
-- Run on the COPY's own connection, after rolling its transaction back. The COPY is found
-- by session, not by pg_last_copy_id(): Amazon documents that function with the STL
-- views' query IDs, not with the SYS views' query_id. session_id is the process running
-- the COPY, pg_backend_pid() this session's; PIDs are reused over time, hence the bound
-- on this session's own start (none if SYS_SESSION_HISTORY has not got it yet).
SELECT TRIM(e.file_name), e.line_number, TRIM(e.column_name), TRIM(e.error_message)
FROM sys_load_error_detail AS e
WHERE e.session_id = pg_backend_pid()
  AND e.start_time = (
      SELECT MAX(d.start_time)
      FROM sys_load_error_detail AS d
      WHERE d.session_id = pg_backend_pid()
        AND d.start_time >= COALESCE(
            (
                SELECT MAX(s.start_time)
                FROM sys_session_history AS s
                WHERE s.session_id = pg_backend_pid()
            ),
            CAST('1900-01-01' AS TIMESTAMP)
        )
  )
ORDER BY e.line_number
LIMIT 5;
