-- make verify: the lines each object holds; <source>: staged, or master_scan.sql over
-- rejects objects. An object without lines has no row (it holds 0).
SELECT filename, COUNT(*) FROM ({source}) AS lines GROUP BY filename
