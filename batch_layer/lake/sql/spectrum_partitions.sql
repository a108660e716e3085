-- Redshift Spectrum: the folders found in S3 when make lake-ddl ran, as partitions (run
-- it again after new days: IF NOT EXISTS keeps the ones added before).
ALTER TABLE {schema}.{table} ADD IF NOT EXISTS
{partitions}
