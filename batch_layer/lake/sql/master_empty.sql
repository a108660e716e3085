-- A table with no objects yet: its columns, no rows (DuckDB refuses a scan of no files).
SELECT {typed_nulls}, CAST(NULL AS VARCHAR) AS topic, CAST(NULL AS DATE) AS dt,
       CAST(NULL AS INTEGER) AS "partition", CAST(NULL AS INTEGER) AS generation,
       CAST(NULL AS VARCHAR) AS filename
WHERE false
