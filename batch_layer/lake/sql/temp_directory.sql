-- make verify: where DuckDB may spill what does not fit in memory (a folder of its own,
-- removed afterwards).
SET temp_directory = $dir
