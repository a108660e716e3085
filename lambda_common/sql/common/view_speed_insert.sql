-- Filled by psycopg2's execute_values, which expands the one placeholder below into a
-- multi-row VALUES list (Redshift accepts those too).
INSERT INTO {staging} ({columns}) VALUES %s;
