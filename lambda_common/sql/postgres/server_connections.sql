-- How many connections the server takes (max_connections), and how many of them only a
-- superuser may use (superuser_reserved_connections).
SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int;
