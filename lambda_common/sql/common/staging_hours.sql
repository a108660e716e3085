-- The hours of the rows this cycle newly loads (before staging_new is dropped): the
-- hours a late event changes are rebuilt in the cycle's transaction (batch_layer/hours.py).
SELECT DISTINCT event_hour FROM staging_new;
