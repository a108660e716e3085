-- Record the rows COPY rejected (load_rejects), many a statement (psycopg2's
-- execute_values fills in the VALUES list: the placeholder below is its only one).
INSERT INTO load_rejects (object_key, line_number, column_name, error_code, reason) VALUES %s;
