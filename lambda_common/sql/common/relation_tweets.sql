-- The relation "tweets" in the warehouse: one row per valid, de-duplicated event, its keys
-- normalised when it was loaded (lambda_common.contract), for the hours being rebuilt. The
-- range is on raw_tweets's sort key (Redshift) / indexed column (PostgreSQL), so only
-- those hours are read.
SELECT tweet_id, event_hour, location, lang, user_id, followers_count, favorite_count, retweet_count
FROM raw_tweets
WHERE event_hour >= %(since)s AND event_hour < %(until)s
