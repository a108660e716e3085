-- Rejected messages by reason, with where the newest of each was (partition and offset)
-- and the start of its value.
SELECT reason,
       COUNT(*) AS messages,
       arg_max("partition", (dt, "offset")) AS newest_partition,
       MAX("offset") AS newest_offset,
       arg_max(value_preview, (dt, "offset")) AS newest_value
FROM master_rejects
GROUP BY reason
ORDER BY messages DESC, reason
