-- The start of every read-only transaction of make query and the dashboard: a statement
-- timeout (milliseconds) that lasts until the transaction ends.
SET LOCAL statement_timeout = %(ms)s;
