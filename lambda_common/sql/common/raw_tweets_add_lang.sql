-- Upgrade in place: raw_tweets of an earlier version gets the languages view's key. Rows
-- already loaded hold '(unknown)' until make recompute fills it from the master dataset
-- (which keeps every event verbatim). Appended last, as schema.sql creates it.
ALTER TABLE raw_tweets ADD COLUMN lang varchar(140) NOT NULL DEFAULT '(unknown)';
