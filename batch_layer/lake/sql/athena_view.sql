-- Athena: the table as make lake-query has it, every generation with its partition
-- columns (topic, dt, partition, generation), over the tables of the two layouts.
CREATE OR REPLACE VIEW {database}.{view} AS
SELECT {columns}, '{topic}' AS topic, dt, "partition", 0 AS generation
FROM {database}.{first}
UNION ALL
SELECT {columns}, '{topic}' AS topic, dt, "partition", generation
FROM {database}.{later}
