-- Hour by hour totals of one {noun} over the last hours (the current UTC hour and the
-- hours - 1 before it), newest hour first.{note}
-- params: {key_params}, hours=48
WITH tagged AS (
{tagged}
)
SELECT v.event_hour, v.tweet_count, v.followers_sum, v.favorite_sum, v.retweet_sum, v.layer
FROM tagged AS v
WHERE {key_match} AND v.event_hour >= %(since)s
ORDER BY v.event_hour DESC
