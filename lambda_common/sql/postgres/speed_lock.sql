-- One speed-layer writer at a time decides from speed_progress (two jobs on different
-- checkpoints must not both take the speed tables over). Only the speed layer reads it.
LOCK TABLE speed_progress IN SHARE ROW EXCLUSIVE MODE;
