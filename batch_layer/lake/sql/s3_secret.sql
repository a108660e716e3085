-- DuckDB's S3 credentials for the bucket of the master dataset (httpfs), every value bound:
-- the keys the rest of the pipeline signs with (lambda_common.objectstore), the region,
-- and for an S3-compatible server its host:port, path-style URLs and http or https.
CREATE SECRET master_dataset (
    TYPE s3,
    SCOPE $scope,
    KEY_ID $key_id,
    SECRET $secret,
    SESSION_TOKEN $session_token,
    REGION $region,
    ENDPOINT $endpoint,
    URL_STYLE $url_style,
    USE_SSL $use_ssl
)
