-- One layout of the master dataset's objects read as rows: the flat columns of each line
-- (typed by <columns>; a number quoted as a JSON string reads as the number), the folders
-- of its key as columns, so that a filter on dt (or partition) skips the objects of other
-- folders before any is read, and the object's URL (filename). <generation> is 0 under
-- topic=<t>/ and the gen=<n> folder's number under topic=<t>/gen=<n>/ (the incarnations
-- after make batch-reset).
SELECT {names}, topic, dt, "partition", {generation} AS generation, filename
FROM read_json(
    {files},
    format = 'newline_delimited',
    compression = 'gzip',
    hive_partitioning = true,
    hive_types = {hive_types},
    filename = true,
    columns = {columns}
)
