-- make verify: every object the load ledger records, with what it held when loaded.
SELECT object_key, topic, events, rejects FROM load_ledger;
