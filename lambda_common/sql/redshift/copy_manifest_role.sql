-- Load one cycle's objects listed in its manifest, with the IAM role Redshift assumes.
COPY staging_tweets
FROM %(manifest)s
IAM_ROLE %(iam_role)s
MANIFEST
FORMAT AS JSON 'auto'
GZIP
TIMEFORMAT 'auto'
REGION %(region)s;
