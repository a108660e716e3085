-- Filled by psycopg2's execute_values, which expands the one placeholder below into a
-- multi-row VALUES list (Redshift accepts those too).
INSERT INTO speed_staging (event_hour, location, tweet_count, followers_sum, favorite_sum, retweet_sum) VALUES %s;
