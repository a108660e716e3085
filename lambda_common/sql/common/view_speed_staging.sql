-- A session-private table for one micro-batch's rows of one view (its increments).
DROP TABLE IF EXISTS {staging};
CREATE TEMP TABLE {staging} (LIKE {speed});
