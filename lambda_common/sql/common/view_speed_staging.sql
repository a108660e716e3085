-- A session-private table for the micro-batches' rows of one view (their increments),
-- made once per connection and reused: each micro-batch empties it with DELETE in its own
-- transaction (view_speed_merge), so it never commits mid-way as TRUNCATE does on
-- Redshift. Made again now and then, so that the deleted rows, which stay until a vacuum
-- (PostgreSQL's autovacuum skips temporary tables), do not pile up.
DROP TABLE IF EXISTS {staging};
CREATE TEMP TABLE {staging} (LIKE {speed});
