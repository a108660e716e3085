-- One micro-batch's effect on speed_view, run in one transaction with the horizon read
-- in it: the changed groups replace their rows (the staged values are the groups' full
-- aggregates, not increments, so a replayed micro-batch writes the same rows again), and
-- hours before the horizon, which the batch view now serves, leave the speed view.
DELETE FROM speed_view
USING speed_staging
WHERE speed_view.event_hour = speed_staging.event_hour
  AND speed_view.location = speed_staging.location;
INSERT INTO speed_view (event_hour, location, tweet_count, followers_sum, favorite_sum, retweet_sum)
SELECT event_hour, location, tweet_count, followers_sum, favorite_sum, retweet_sum
FROM speed_staging
WHERE %(horizon)s IS NULL OR event_hour >= %(horizon)s;
DELETE FROM speed_view WHERE event_hour < %(horizon)s;
DROP TABLE speed_staging;
