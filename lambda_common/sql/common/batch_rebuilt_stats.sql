-- What a rebuild of the hours since <= event_hour < until wrote: hours and raw rows (the
-- locations view counts every valid tweet once), for the cycle's log line.
SELECT COUNT(DISTINCT event_hour), COALESCE(SUM(tweet_count), 0)
FROM batch_view
WHERE event_hour >= %(since)s AND event_hour < %(until)s;
