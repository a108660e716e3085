-- make verify's run, kept as the topic's last (verify_runs), in one transaction.
DELETE FROM verify_runs WHERE topic = %(topic)s;
INSERT INTO verify_runs (topic, finished_at, ok, views, rows_compared, events, duration_s, failed)
VALUES (%(topic)s, %(finished_at)s, %(ok)s, %(views)s, %(rows)s, %(events)s, %(duration_s)s, %(failed)s);
