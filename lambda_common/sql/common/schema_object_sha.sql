-- The SHA-256 of the SQL text a view of the pipeline was last created with. No row: never
-- recorded (a warehouse set up before schema_objects existed), so the DDL runs once more.
SELECT definition_sha FROM schema_objects WHERE object_name = %(name)s;
