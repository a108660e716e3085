-- The placeholder below becomes a multi-row VALUES list of the micro-batch's rows (one
-- statement unless they pass the size budget speed_layer.view sets under Redshift's
-- 16 MB per statement).
INSERT INTO {staging} ({columns}) VALUES %s;
