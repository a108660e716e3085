-- The view's DDL is done: the session's own statement_timeout again for the rest of the
-- transaction (recording the definition must not be cut short).
SET LOCAL statement_timeout TO DEFAULT;
