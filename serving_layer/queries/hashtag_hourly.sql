-- Hour by hour totals of one hashtag over the last hours (the current UTC hour and the
-- hours - 1 before it), newest hour first. The hashtag is matched as the pipeline keys
-- it: surrounding ASCII whitespace trimmed, one leading # removed, lower-cased.
-- params: hashtag (required), hours=48
SELECT
    v.event_hour,
    v.tweet_count,
    v.followers_sum,
    v.favorite_sum,
    v.retweet_sum,
    CASE WHEN v.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
FROM serving_hashtags AS v
CROSS JOIN (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
WHERE v.hashtag = %(hashtag)s AND v.event_hour >= %(since)s
ORDER BY v.event_hour DESC
