-- Redshift Spectrum: an external schema over a Glue database of its own (Spectrum does
-- not use Athena's partition projection, so its tables list their partitions), read and
-- written with the cluster's IAM role.
CREATE EXTERNAL SCHEMA IF NOT EXISTS {schema}
FROM DATA CATALOG DATABASE '{database}'
IAM_ROLE '{role}'
REGION '{region}'
CREATE EXTERNAL DATABASE IF NOT EXISTS
