-- A fresh checkpoint re-reads the topic from its start: its first micro-batch forgets
-- every tweet id seen and the newest hour (the speed tables are emptied beside).
DELETE FROM speed_seen;
DELETE FROM speed_clock;
