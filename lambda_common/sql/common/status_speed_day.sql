-- Messages the speed layer read, and rejected, in the micro-batches since a moment.
SELECT COALESCE(SUM(input_rows), 0), COALESCE(SUM(rejects), 0)
FROM speed_batches
WHERE finished_at >= %(since)s;
