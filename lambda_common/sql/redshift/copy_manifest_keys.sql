-- Load one cycle's objects listed in its manifest, with access keys (no IAM role set).
-- The key values are bound parameters, never part of this text. COMPUPDATE OFF,
-- STATUPDATE OFF, TIMEFORMAT and MAXERROR: see copy_manifest_role.sql.
COPY staging_tweets
FROM %(manifest)s
ACCESS_KEY_ID %(access_key_id)s
SECRET_ACCESS_KEY %(secret_access_key)s
MANIFEST
FORMAT AS JSON 'auto'
GZIP
TIMEFORMAT 'YYYY-MM-DD HH:MI:SS'
MAXERROR %(max_errors)s
REGION %(region)s
COMPUPDATE OFF
STATUPDATE OFF;
