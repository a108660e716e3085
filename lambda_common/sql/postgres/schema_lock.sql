-- ensure_schema's turn: two layers starting at once must not race on CREATE TABLE IF NOT
-- EXISTS. The lock is taken on a table QUERY_DSN's user has no privilege on, never on an
-- advisory key: any role may take pg_advisory_lock on any key and keep it as long as it
-- likes, and a reader holding the key once stalled every batch cycle and speed start.
-- LOCK TABLE needs a privilege on the table (SELECT for ACCESS SHARE, UPDATE, DELETE or
-- TRUNCATE for any other mode), and EXCLUSIVE conflicts with every mode but ACCESS
-- SHARE: so the reader can take no lock here at all, and even a role granted SELECT on
-- the table could take none that holds the pipeline up.
-- The table itself is created first, outside the lock; two first starts at once may both
-- try, and the loser gets a unique violation, which ensure_schema runs again (the table
-- exists then).
CREATE TABLE IF NOT EXISTS schema_lock (
    held boolean
);
LOCK TABLE schema_lock IN EXCLUSIVE MODE;
