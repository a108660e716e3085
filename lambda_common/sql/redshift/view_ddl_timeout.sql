-- A view's DDL waits for every open transaction that has read the view, and new readers
-- queue behind it. Redshift has no lock_timeout: statement_timeout (milliseconds; planning
-- and WLM queueing count too) bounds the DDL instead, for this transaction only, and
-- view_ddl_timeout_end.sql sets it back to the session's value right after the DDL.
SET LOCAL statement_timeout TO %(ms)s;
