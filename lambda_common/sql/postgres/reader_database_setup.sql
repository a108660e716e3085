-- Run by the local stack's superuser inside the pipeline's database on every start.
-- Any role may create large objects by default: rows of pg_largeobject that no table
-- privilege governs. The pipeline uses none, so nobody but the superuser creates them.
REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea) FROM PUBLIC;
