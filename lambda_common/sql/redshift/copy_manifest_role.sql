-- Load one cycle's objects listed in its manifest, with the IAM role Redshift assumes.
-- COMPUPDATE OFF and STATUPDATE OFF: staging_tweets is created empty every cycle and lives
-- one transaction; into an empty table COPY would otherwise choose compression encodings
-- and compute optimizer statistics on every load, for a table nobody queries afterwards.
COPY staging_tweets
FROM %(manifest)s
IAM_ROLE %(iam_role)s
MANIFEST
FORMAT AS JSON 'auto'
GZIP
TIMEFORMAT 'auto'
REGION %(region)s
COMPUPDATE OFF
STATUPDATE OFF;
