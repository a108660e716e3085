-- DuckDB's S3 reader, loaded from the file its Python package installed (<path>, a quoted
-- literal: LOAD takes no bound parameter); nothing is downloaded.
LOAD {path}
