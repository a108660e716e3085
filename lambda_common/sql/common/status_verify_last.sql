-- The topic's last make verify (verify_runs): when it finished, whether every check passed,
-- what it compared, and its first FAIL line.
SELECT finished_at, ok, views, rows_compared, events, duration_s, failed
FROM verify_runs
WHERE topic = %(topic)s;
