-- What the serving view serves: its rows and the tweets they count.
SELECT COUNT(*), COALESCE(SUM(tweet_count), 0)
FROM serving_view;
