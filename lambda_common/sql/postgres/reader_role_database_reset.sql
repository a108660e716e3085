-- Drop the settings QUERY_DSN's user gave itself in one database ({reader}, {database}:
-- identifiers quoted by the caller).
ALTER ROLE {reader} IN DATABASE {database} RESET ALL;
