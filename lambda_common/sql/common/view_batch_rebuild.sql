-- A view's batch table, rebuilt for the hours since <= event_hour < until: those hours
-- deleted, then the view's SELECT over its relation read from the raw tables for the same
-- hours. A cycle runs it for the hours it touched (batch_layer/hours.py), a full rebuild
-- for every hour before the horizon (since = the beginning of time). Run for every view
-- inside the transaction that moves the horizon. <relation>: the relation's name;
-- <relation_select>: relation_<name>.sql; <select>: the view's SELECT, verbatim.
DELETE FROM {batch} WHERE event_hour >= %(since)s AND event_hour < %(until)s;
INSERT INTO {batch} ({columns})
WITH {relation} AS (
{relation_select}
)
{select};
