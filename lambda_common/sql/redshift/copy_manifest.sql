-- Load one cycle's objects listed in its manifest. The credentials clause is filled in by
-- batch_layer/redshift_copy.py (CREDENTIALS): the IAM role Redshift assumes (what AWS
-- recommends), or access keys, with a session token for temporary credentials; their
-- values are bound parameters, never part of this text.
-- COMPUPDATE OFF and STATUPDATE OFF: staging_tweets is created empty every cycle and lives
-- one transaction; into an empty table COPY would otherwise choose compression encodings
-- and compute optimizer statistics on every load, for a table nobody queries afterwards.
-- TIMEFORMAT: the one form the objects' timestamps take (lambda_common/contract/landed.py: four-
-- digit years, seconds with their fraction). MAXERROR (REDSHIFT_COPY_MAXERROR): a row
-- COPY rejects is left out and recorded (batch_layer/copy_rejects.py) instead of failing
-- the load; as many rejects as MAXERROR fail it, as before.
COPY staging_tweets
FROM %(manifest)s
{credentials}
MANIFEST
FORMAT AS JSON 'auto'
GZIP
TIMEFORMAT 'YYYY-MM-DD HH:MI:SS'
MAXERROR %(max_errors)s
REGION %(region)s
COMPUPDATE OFF
STATUPDATE OFF;
