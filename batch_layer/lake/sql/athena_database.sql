-- Athena (the Glue Data Catalog): the database of the master dataset's tables.
CREATE DATABASE IF NOT EXISTS {database}
