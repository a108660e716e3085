-- make verify: the contract's de-duplication, applied here on its own rather than with
-- the warehouse's SQL: of the copies of a tweet_id, the first by generation, Kafka
-- partition and offset is the tweet; the other copies are ignored.
CREATE TABLE winners AS
SELECT *
FROM staged
QUALIFY row_number() OVER (
    PARTITION BY tweet_id ORDER BY generation, kafka_partition, kafka_offset
) = 1
