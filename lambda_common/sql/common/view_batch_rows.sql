-- make verify: a view's batch table for the hours %(since)s <= event_hour < %(until)s
-- (read as QUERY_DSN's reader). <batch>: the table; <columns>: its columns, keys first.
SELECT {columns} FROM {batch} WHERE event_hour >= %(since)s AND event_hour < %(until)s;
