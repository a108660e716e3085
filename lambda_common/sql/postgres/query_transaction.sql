-- The start of every read-only transaction of make query and the dashboard: a statement
-- timeout (milliseconds) that lasts until the transaction ends, and the string rules the
-- statement check read the text by (serving_layer/guard.py): a backslash in a plain
-- '...' string is an ordinary character, whatever the session (PGOPTIONS, ALTER ROLE ...
-- SET) chose.
SET LOCAL statement_timeout = %(ms)s;
SET LOCAL standard_conforming_strings = on;
