-- The clauses in which Redshift's SQL differs from PostgreSQL's (postgres.sql has the same
-- names). lambda_common.sql.load_sql fills each {name} slot of a loaded file with the
-- lines under "-- clause: name" here, up to the next clause: comment lines are not part
-- of a clause, an empty clause leaves nothing.

-- ---- schema.sql

-- raw_tweets.user_id: varchar lengths are bytes in Redshift, and it has no text type.
-- clause: long_text
varchar(65535)

-- A UTC timestamp column's default (Redshift's clock is UTC).
-- clause: utc_now
SYSDATE

-- An exact sum of counts (a count may reach 2^63 - 1).
-- clause: exact_sum
decimal(38,0)

-- A small table: a copy on every node, so a join with it stays on each node.
-- clause: replicated
DISTSTYLE ALL

-- raw_tweets and raw_hashtags: spread by tweet_id, so the views' join of the two stays on
-- each node, and sorted by the tweet's event_hour, so a rebuild of some hours skips the
-- blocks of the others.
-- clause: by_tweet_hour
DISTKEY (tweet_id)
SORTKEY (event_hour)

-- The sort key serves the hours: no index (Redshift has none).
-- clause: raw_tweets_hour_index

-- Every tweet_id loaded into raw_tweets, for the de-duplication probe (staging_merge.sql):
-- DISTKEY and SORTKEY (tweet_id), so a probe joins on each node and its range predicate
-- lets the zone maps skip the blocks outside the staged ids.
-- clause: raw_tweet_ids_table
CREATE TABLE IF NOT EXISTS raw_tweet_ids (
    tweet_id varchar(19) NOT NULL PRIMARY KEY
)
DISTKEY (tweet_id)
SORTKEY (tweet_id)

-- batch_daily, a copy on every node, read by day.
-- clause: sorted_by_day
SORTKEY (event_day)

-- speed_seen: spread and sorted by tweet_id (by_tweet_id), as each micro-batch joins its
-- events to it on tweet_id.
-- clause: seen_tweet_id
NOT NULL

-- clause: by_tweet_id
DISTKEY (tweet_id)
SORTKEY (tweet_id)

-- ---- staging_merge.sql
-- The probe reads raw_tweet_ids, not raw_tweets: a narrow table of every loaded id,
-- DISTKEY and SORTKEY (tweet_id), so the join stays on each node and the range of the
-- staged ids (%(first_id)s..%(last_id)s, bound from the staging table) lets the zone maps
-- skip every block outside it. raw_tweets itself is sorted by event_hour for the views.

-- clause: staging_analyze

-- clause: loaded_probe
      SELECT 1 FROM raw_tweet_ids AS r
      WHERE r.tweet_id = ranked.tweet_id
        AND r.tweet_id >= %(first_id)s AND r.tweet_id <= %(last_id)s

-- clause: loaded_ids_insert
INSERT INTO raw_tweet_ids (tweet_id)
SELECT tweet_id FROM staging_new

-- ---- view_tables.sql

-- DISTSTYLE AUTO: Redshift keeps a small view on every node and spreads it once it grows.
-- clause: view_layout
DISTSTYLE AUTO
SORTKEY (event_hour)

-- The speed table: LIKE copies the columns, DISTSTYLE and SORTKEY.
-- clause: copy_of_batch
LIKE {batch}
