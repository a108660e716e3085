-- batch_view: the aggregation of raw_tweets for the hours before the horizon, replaced
-- inside the publishing transaction (the code puts aggregate.sql after the INSERT).
DELETE FROM batch_view;
INSERT INTO batch_view (
    event_hour, location, tweet_count, followers_sum, favorite_sum, retweet_sum
)
{aggregate};
