-- Load one cycle's objects listed in its manifest, with access keys (no IAM role set).
COPY staging_tweets
FROM %(manifest)s
CREDENTIALS %(credentials)s
MANIFEST
FORMAT AS JSON 'auto'
GZIP
TIMEFORMAT 'auto'
REGION %(region)s;
