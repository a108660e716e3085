-- The view's DDL has its lock: the rest of the transaction waits as usual.
SET LOCAL lock_timeout TO DEFAULT;
