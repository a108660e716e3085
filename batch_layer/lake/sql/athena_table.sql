-- Athena: the objects of one generation layout of a table (generation 0 directly under
-- the topic's folder, later ones under gen=<n>/), the gzip JSON lines read by the Hive
-- JSON SerDe (Athena reads .gz objects as gzip). Partition projection computes the
-- folders from the table's properties, so no partition is ever added by hand.
CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table} (
{columns}
)
PARTITIONED BY ({partitions})
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{location}'
TBLPROPERTIES (
{properties}
)
