"""Kafka behind the project's interfaces: the admin side and the clients' settings
(:mod:`.broker`), the event log the batch layer reads (:mod:`.eventlog`, with
kafka-python; :mod:`.eventlog_confluent`, with confluent-kafka) and the one place the
client is chosen (:mod:`.factory`). Every Kafka error is mapped to the project's own."""
