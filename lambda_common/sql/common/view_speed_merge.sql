-- One micro-batch's increments of one view, staged (rows at or after the horizon only:
-- the caller leaves the others out), into its speed table, in the transaction that
-- applies the micro-batch to every view and records it in speed_progress (so it is
-- applied once): rows of an existing key are added to, new keys inserted. One statement
-- on Redshift and PostgreSQL 15 alike. MERGE's rules (Redshift): the source is a table,
-- both WHEN clauses are given, and a target row matches one source row at most (the
-- staged rows are one per key: the view's GROUP BY). <match>: the staged row's key
-- equals the table's. Then the staging table is emptied for the next micro-batch.
MERGE INTO {speed}
USING {staging} AS s
ON {match}
WHEN MATCHED THEN UPDATE SET
    tweet_count = {speed}.tweet_count + s.tweet_count,
    followers_sum = {speed}.followers_sum + s.followers_sum,
    favorite_sum = {speed}.favorite_sum + s.favorite_sum,
    retweet_sum = {speed}.retweet_sum + s.retweet_sum
WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({s_columns});
DELETE FROM {staging};
