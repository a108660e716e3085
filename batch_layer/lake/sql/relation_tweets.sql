-- make verify: the relation "tweets" the views read, from the master dataset: one row per
-- de-duplicated tweet (winners.sql) of the hours $since <= event_hour < $until. <columns>:
-- the relation's columns (lambda_common.views.RELATIONS).
CREATE TABLE tweets AS
SELECT {columns}
FROM winners
WHERE event_hour >= $since AND event_hour < $until
