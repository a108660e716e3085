INSERT INTO load_ledger (object_key, topic, kafka_partition, first_offset, last_offset, events, rejects)
VALUES (%(object_key)s, %(topic)s, %(kafka_partition)s, %(first_offset)s, %(last_offset)s, %(events)s, %(rejects)s);
