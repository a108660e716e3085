-- The definition each view's batch table was last rebuilt in full with (SHA-256 of its
-- rebuild SQL, recorded as batch_rebuild:<view>): a view whose definition changed, or
-- that has none recorded, is rebuilt in full once, the others only in the hours touched.
SELECT object_name, definition_sha FROM schema_objects WHERE object_name IN %(names)s;
