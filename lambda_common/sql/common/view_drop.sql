-- A serving view whose definition changed is dropped and created again in one
-- transaction (<view>: an identifier quoted by the caller). Not CREATE OR REPLACE VIEW:
-- Redshift refuses that when a column's type changes (as the sums' did, from the
-- precision a set operation gave them to DECIMAL(38,0)).
DROP VIEW {view};
