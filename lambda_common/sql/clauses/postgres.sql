-- The clauses in which PostgreSQL's SQL differs from Redshift's (redshift.sql has the same
-- names). lambda_common.sql.load_sql fills each {name} slot of a loaded file with the
-- lines under "-- clause: name" here, up to the next clause: comment lines are not part
-- of a clause, an empty clause leaves nothing.

-- ---- schema.sql

-- raw_tweets.user_id: as long as a user id may be.
-- clause: long_text
text

-- A UTC timestamp column's default.
-- clause: utc_now
(now() AT TIME ZONE 'UTC')

-- An exact sum of counts (a count may reach 2^63 - 1, so a bigint sum could overflow).
-- clause: exact_sum
numeric(38,0)

-- How a small table is laid out: one node, nothing to say.
-- clause: replicated

-- raw_tweets and raw_hashtags, read by tweet_id and by hour: PostgreSQL reads raw_tweets'
-- hours through raw_tweets_hour_index (raw_hashtags': raw_hashtags_event_hour.sql).
-- clause: by_tweet_hour

-- clause: raw_tweets_hour_index
CREATE INDEX IF NOT EXISTS raw_tweets_event_hour ON raw_tweets (event_hour)

-- The ids loaded are looked up in raw_tweets' primary key itself (staging_merge.sql).
-- clause: raw_tweet_ids_table

-- batch_daily, read by day.
-- clause: sorted_by_day

-- speed_seen, joined to each micro-batch's events on tweet_id through its primary key.
-- clause: seen_tweet_id
NOT NULL PRIMARY KEY

-- clause: by_tweet_id

-- ---- staging_merge.sql
-- The probe of raw_tweets goes through its primary key, one index look-up per staged
-- tweet, however long the history: ANALYZE first, because a temporary table is never
-- analysed by autovacuum, and without row counts the planner may hash all of raw_tweets.

-- clause: staging_analyze
ANALYZE staging_tweets

-- clause: loaded_probe
      SELECT 1 FROM raw_tweets AS r WHERE r.tweet_id = ranked.tweet_id

-- clause: loaded_ids_insert

-- ---- view_tables.sql

-- A view's batch table: its primary key is its only index.
-- clause: view_layout

-- The speed table: the batch table's columns, defaults, constraints and indexes.
-- clause: copy_of_batch
LIKE {batch} INCLUDING ALL
