-- make verify: the lines of every master object the load ledger records, as read from S3
-- (duplicates included), with the object's generation and URL; filled a few objects at
-- a time (staged_insert.sql).
CREATE TABLE staged (
    tweet_id        VARCHAR,
    event_hour      TIMESTAMP,
    location        VARCHAR,
    lang            VARCHAR,
    user_id         VARCHAR,
    followers_count BIGINT,
    favorite_count  BIGINT,
    retweet_count   BIGINT,
    kafka_partition INTEGER,
    kafka_offset    BIGINT,
    hashtags        VARCHAR[],
    generation      INTEGER,
    filename        VARCHAR
)
