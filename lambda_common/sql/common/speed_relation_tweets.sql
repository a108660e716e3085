-- The relation "tweets" of one micro-batch: its new, de-duplicated events (staged by
-- speed_layer.view), from the horizon on (<since>: the batch tables serve older hours, so
-- no key before it reaches a speed table). relation_tweets.sql's counterpart.
SELECT tweet_id, event_hour, location, lang, user_id, followers_count, favorite_count, retweet_count
FROM speed_staged_tweets
WHERE event_hour >= %(since)s
