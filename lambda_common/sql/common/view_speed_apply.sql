-- One micro-batch's increments of one view into its speed table, in the transaction that
-- applies the micro-batch to every view and records it in speed_progress (so it is
-- applied once). Rows of an existing key are added to, new keys inserted when at or
-- after the horizon, and hours before the horizon, which the batch table now serves,
-- leave the speed table. <match>: the staged row's key equals the table's.
UPDATE {speed}
SET tweet_count = {speed}.tweet_count + s.tweet_count,
    followers_sum = {speed}.followers_sum + s.followers_sum,
    favorite_sum = {speed}.favorite_sum + s.favorite_sum,
    retweet_sum = {speed}.retweet_sum + s.retweet_sum
FROM {staging} AS s
WHERE {match};
INSERT INTO {speed} ({columns})
SELECT {s_columns}
FROM {staging} AS s
WHERE (%(horizon)s IS NULL OR s.event_hour >= %(horizon)s)
  AND NOT EXISTS (SELECT 1 FROM {speed} WHERE {match});
DELETE FROM {speed} WHERE event_hour < %(horizon)s;
DROP TABLE {staging};
