-- Hours before the horizon, which the batch table now serves, leave the speed table: run
-- in the first micro-batch that sees a horizon (a moved one, or after a restart).
DELETE FROM {speed} WHERE event_hour < %(horizon)s;
