-- What QUERY_DSN's user may read of one view: its batch and speed tables and its serving
-- view (<relation>, <reader>: identifiers quoted by the caller with psycopg2.sql).
GRANT SELECT ON TABLE {relation} TO {reader};
