-- One micro-batch's increments of one view into its staging table: the view's SELECT,
-- verbatim (the text the batch layer runs, view_batch_rebuild.sql), over its relation
-- made of the micro-batch's staged events (speed_relation_<name>.sql). Then merged into
-- the speed table (view_speed_merge). <relation>: the relation's name;
-- <relation_select>: its SELECT; <select>: the view's SELECT.
INSERT INTO {staging} ({columns})
WITH {relation} AS (
{relation_select}
)
{select};
