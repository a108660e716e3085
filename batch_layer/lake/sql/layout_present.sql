-- Whether any object matches a layout's glob ($pattern): a table reads only the layouts
-- that have objects (DuckDB refuses to scan a glob that matches none).
SELECT 1 FROM glob($pattern) LIMIT 1
