-- Record the definition a view was just created with, in the transaction that ran its
-- DDL: both commit, or neither does and the next ensure_schema runs the DDL again.
DELETE FROM schema_objects WHERE object_name = %(name)s;
INSERT INTO schema_objects (object_name, definition_sha) VALUES (%(name)s, %(sha)s);
