-- The COPY this session ran last: its query_id (the id the SYS views share), the rows it
-- loaded and how many it rejected. Found by session, not by pg_last_copy_id(): Amazon
-- documents that function with the STL views, which Serverless lacks. session_id is the
-- process running the COPY, pg_backend_pid() this session's; PIDs are reused over time,
-- hence the bound on this session's own start (none if SYS_SESSION_HISTORY has not got
-- it yet). The caller checks loaded_rows against pg_last_copy_count() before trusting it.
SELECT h.query_id, h.loaded_rows, h.error_count
FROM sys_load_history AS h
WHERE h.session_id = pg_backend_pid()
  AND h.start_time >= COALESCE(
      (
          SELECT MAX(s.start_time)
          FROM sys_session_history AS s
          WHERE s.session_id = pg_backend_pid()
      ),
      CAST('1900-01-01' AS TIMESTAMP)
  )
ORDER BY h.start_time DESC
LIMIT 1;
