-- make lake-query, before the user's SELECT runs: files are readable only below the
-- topic's folders of the bucket ($roots), and DuckDB's configuration is locked, so no
-- statement can widen that again.
SET allowed_directories = $roots;
SET enable_external_access = false;
SET lock_configuration = true;
