-- The newest event time any micro-batch of the speed layer has seen.
SELECT MAX(max_event_time)
FROM speed_batches;
