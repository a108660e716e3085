-- Valid and rejected messages the batch layer has loaded, over every object it landed.
SELECT COALESCE(SUM(events), 0), COALESCE(SUM(rejects), 0)
FROM load_ledger;
