-- Which of these objects were loaded already.
SELECT object_key FROM load_ledger WHERE object_key IN %(keys)s;
