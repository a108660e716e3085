-- Widen the sums of a warehouse created when they were bigint to numeric(38,0), in place
-- and keeping every row. ensure_schema runs this only when sum_columns_outdated found a
-- column, in the transaction that then recreates serving_view: readers see the old
-- tables or the new ones, never a warehouse without the view. PostgreSQL refuses to
-- change the type of a column a view reads, so serving_view is dropped first.
-- (Redshift cannot change a column's type at all: there ensure_schema refuses to start.)
DROP VIEW IF EXISTS serving_view;
ALTER TABLE batch_view
    ALTER COLUMN followers_sum TYPE numeric(38,0),
    ALTER COLUMN favorite_sum TYPE numeric(38,0),
    ALTER COLUMN retweet_sum TYPE numeric(38,0);
ALTER TABLE batch_daily
    ALTER COLUMN followers_sum TYPE numeric(38,0),
    ALTER COLUMN favorite_sum TYPE numeric(38,0),
    ALTER COLUMN retweet_sum TYPE numeric(38,0);
ALTER TABLE speed_view
    ALTER COLUMN followers_sum TYPE numeric(38,0),
    ALTER COLUMN favorite_sum TYPE numeric(38,0),
    ALTER COLUMN retweet_sum TYPE numeric(38,0);
