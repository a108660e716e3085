-- A fresh speed checkpoint re-reads the topic from its start: its first micro-batch
-- empties the speed table first (in the same transaction), so nothing is counted twice.
DELETE FROM {speed};
