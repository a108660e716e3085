-- A table of make lake-query: <name> as a view over <select>, the union of its layouts'
-- scans (master_scan.sql) or master_empty.sql.
CREATE VIEW {name} AS
{select}
