-- Redshift Spectrum: a table's objects of every generation, the JSON lines read by the
-- OpenX JSON SerDe; each folder is one partition (spectrum_partitions.sql).
CREATE EXTERNAL TABLE {schema}.{table} (
{columns}
)
PARTITIONED BY (generation int, dt varchar(10), "partition" int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS TEXTFILE
LOCATION '{location}'
