-- A view's batch table: its definition's SELECT over its relation, the relation read
-- from the raw tables for the hours before the horizon. Run for every view inside the
-- transaction that moves the horizon. <relation>: the relation's name; <relation_select>:
-- relation_<name>.sql; <select>: the view's SELECT, verbatim.
DELETE FROM {batch};
INSERT INTO {batch} ({columns})
WITH {relation} AS (
{relation_select}
)
{select};
