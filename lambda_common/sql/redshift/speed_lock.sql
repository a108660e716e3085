-- One speed-layer writer at a time decides from speed_progress. Redshift's LOCK is
-- ACCESS EXCLUSIVE; only the speed layer reads this table.
LOCK speed_progress;
