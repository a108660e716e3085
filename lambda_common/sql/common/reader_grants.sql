-- What QUERY_DSN's user may do, granted by the pipeline's role (the owner) each time it
-- ensures the schema: read the tables and views make query, make status and make demo
-- read, in the schema they live in; nothing else (no CREATE, no writes, owns nothing).
-- {schema} and {reader} are identifiers, quoted by the caller (psycopg2.sql). One table
-- a statement: the form both warehouses and the unit tests' SQL parser take. Each
-- view's three relations are granted from its definition (view_reader_grants.sql).
GRANT USAGE ON SCHEMA {schema} TO {reader};
GRANT SELECT ON TABLE raw_tweets TO {reader};
GRANT SELECT ON TABLE raw_hashtags TO {reader};
GRANT SELECT ON TABLE load_ledger TO {reader};
GRANT SELECT ON TABLE batch_daily TO {reader};
GRANT SELECT ON TABLE batch_horizon TO {reader};
GRANT SELECT ON TABLE batch_watermarks TO {reader};
GRANT SELECT ON TABLE batch_topics TO {reader};
GRANT SELECT ON TABLE lost_offsets TO {reader};
GRANT SELECT ON TABLE speed_batches TO {reader};
GRANT SELECT ON TABLE verify_runs TO {reader};
