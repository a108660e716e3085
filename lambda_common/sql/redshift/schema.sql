-- The warehouse tables of the pipeline (Amazon Redshift).
-- Idempotent: run at every start of the batch and speed layers. varchar lengths are bytes in
-- Redshift: 800 holds 200 code points of UTF-8.

CREATE TABLE IF NOT EXISTS raw_tweets (
    tweet_id        varchar(19)    NOT NULL PRIMARY KEY,
    created_at      timestamp      NOT NULL,
    event_hour      timestamp      NOT NULL,
    location        varchar(800)   NOT NULL,
    user_id         varchar(65535) NOT NULL,
    followers_count bigint         NOT NULL,
    favorite_count  bigint         NOT NULL,
    retweet_count   bigint         NOT NULL,
    kafka_partition integer        NOT NULL,
    kafka_offset    bigint         NOT NULL,
    lang            varchar(140)   NOT NULL DEFAULT '(unknown)'
)
DISTKEY (tweet_id)
SORTKEY (event_hour);

-- Each tweet's distinct hashtag keys, loaded with the tweet; DISTKEY (tweet_id) as
-- raw_tweets, so the views' join of the two stays on each node; the tweet's event_hour
-- as SORTKEY, as raw_tweets, so a rebuild of some hours skips the blocks of the others.
CREATE TABLE IF NOT EXISTS raw_hashtags (
    tweet_id   varchar(19)  NOT NULL,
    hashtag    varchar(400) NOT NULL,
    event_hour timestamp    NOT NULL,
    PRIMARY KEY (tweet_id, hashtag)
)
DISTKEY (tweet_id)
SORTKEY (event_hour);

-- Every tweet_id loaded into raw_tweets, for the de-duplication probe (staging_merge.sql):
-- DISTKEY and SORTKEY (tweet_id), so a probe joins on each node and its range predicate
-- lets the zone maps skip the blocks outside the staged ids.
CREATE TABLE IF NOT EXISTS raw_tweet_ids (
    tweet_id varchar(19) NOT NULL PRIMARY KEY
)
DISTKEY (tweet_id)
SORTKEY (tweet_id);

CREATE TABLE IF NOT EXISTS load_ledger (
    object_key      varchar(1024) NOT NULL PRIMARY KEY,
    topic           varchar(249)  NOT NULL,
    kafka_partition integer       NOT NULL,
    first_offset    bigint        NOT NULL,
    last_offset     bigint        NOT NULL,
    events          bigint        NOT NULL,
    rejects         bigint        NOT NULL,
    loaded_at       timestamp     NOT NULL DEFAULT SYSDATE
)
DISTSTYLE ALL;

-- The views' batch and speed tables (batch_view, speed_view, batch_hashtags, ...) are
-- derived from their definitions, lambda_common/views/*.sql (see view_tables.sql).

CREATE TABLE IF NOT EXISTS batch_daily (
    event_day     date          NOT NULL PRIMARY KEY,
    tweet_count   bigint        NOT NULL,
    followers_sum decimal(38,0) NOT NULL,
    favorite_sum  decimal(38,0) NOT NULL,
    retweet_sum   decimal(38,0) NOT NULL,
    locations     bigint        NOT NULL
)
DISTSTYLE ALL
SORTKEY (event_day);

CREATE TABLE IF NOT EXISTS batch_horizon (
    horizon timestamp
)
DISTSTYLE ALL;

-- Per Kafka partition: the horizon its last batch cycle could vouch for; the global
-- horizon is the least over all the topic's partitions.
CREATE TABLE IF NOT EXISTS batch_watermarks (
    topic           varchar(249) NOT NULL,
    kafka_partition integer      NOT NULL,
    horizon         timestamp    NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
)
DISTSTYLE ALL;

-- The last micro-batch applied to the speed tables, and of which streaming query.
CREATE TABLE IF NOT EXISTS speed_progress (
    query_id   varchar(64) NOT NULL,
    batch_id   bigint      NOT NULL,
    updated_at timestamp   NOT NULL
)
DISTSTYLE ALL;

-- The speed layer's de-duplication (SPEED_RETENTION): the tweet ids it counted whose hour
-- is within the retention of the newest hour it has seen, each with its hour. Spread and
-- sorted by tweet_id: each micro-batch joins its events to it on tweet_id.
CREATE TABLE IF NOT EXISTS speed_seen (
    tweet_id   varchar(19) NOT NULL,
    event_hour timestamp   NOT NULL
)
DISTKEY (tweet_id)
SORTKEY (tweet_id);

-- The newest event hour the speed layer has seen (its watermark is this minus
-- SPEED_RETENTION). One row.
CREATE TABLE IF NOT EXISTS speed_clock (
    newest timestamp NOT NULL
)
DISTSTYLE ALL;

CREATE TABLE IF NOT EXISTS speed_batches (
    batch_id       bigint    NOT NULL PRIMARY KEY,
    input_rows     bigint    NOT NULL,
    rejects        bigint    NOT NULL,
    rows_written   bigint    NOT NULL,
    duration_ms    bigint    NOT NULL,
    max_event_time timestamp,
    finished_at    timestamp NOT NULL
)
DISTSTYLE ALL;


-- Rows of master objects Redshift's COPY rejected (its MAXERROR lets the load go on
-- without them): the object and line, the column and Redshift's reason, as
-- SYS_LOAD_ERROR_DETAIL gave them. Never in raw_tweets, so never served; counted in
-- load_ledger.rejects of their object. make recompute clears them and records them again.
CREATE TABLE IF NOT EXISTS load_rejects (
    object_key  varchar(1024) NOT NULL,
    line_number bigint        NOT NULL,
    column_name varchar(127)  NOT NULL,
    error_code  integer       NOT NULL,
    reason      varchar(512)  NOT NULL,
    recorded_at timestamp     NOT NULL DEFAULT SYSDATE,
    PRIMARY KEY (object_key, line_number)
)
DISTSTYLE ALL;

-- The incarnations of each Kafka topic the batch layer has read, by Kafka's topic id: a
-- topic deleted and re-created is a new incarnation (generation), which the batch layer
-- refuses until an operator runs make batch-reset. Objects and plans of generation N > 0
-- live under gen=N/, so they never share a key with an older incarnation's.
CREATE TABLE IF NOT EXISTS batch_topics (
    topic      varchar(249) NOT NULL,
    generation integer      NOT NULL,
    topic_id   varchar(36)  NOT NULL,
    started_at timestamp    NOT NULL,
    PRIMARY KEY (topic, generation)
)
DISTSTYLE ALL;

-- Offset ranges Kafka's retention deleted before the batch layer landed them: make status
-- FAILs on each until an operator acknowledges it (make batch-ack-loss).
CREATE TABLE IF NOT EXISTS lost_offsets (
    topic           varchar(249) NOT NULL,
    generation      integer      NOT NULL,
    kafka_partition integer      NOT NULL,
    first_offset    bigint       NOT NULL,
    last_offset     bigint       NOT NULL,
    detected_at     timestamp    NOT NULL,
    acknowledged_at timestamp,
    PRIMARY KEY (topic, generation, kafka_partition, first_offset)
)
DISTSTYLE ALL;

-- The last make verify of each topic: every view recomputed from the master dataset by a
-- second engine and compared with its batch table, and the ledger with S3. One row per
-- topic, replaced by each run; the dashboard and make status read it.
CREATE TABLE IF NOT EXISTS verify_runs (
    topic         varchar(249)     NOT NULL PRIMARY KEY,
    finished_at   timestamp        NOT NULL,
    ok            boolean          NOT NULL,
    views         integer          NOT NULL,
    rows_compared bigint           NOT NULL,
    events        bigint           NOT NULL,
    duration_s    double precision NOT NULL,
    failed        varchar(1000)    NOT NULL
)
DISTSTYLE ALL;

-- The batch layer's writers (cycles, make recompute, make batch-reset) serialise on a lock
-- of this table, which nobody reads: on Redshift LOCK is ACCESS EXCLUSIVE, so
-- locking load_ledger would make make status wait out every load.
CREATE TABLE IF NOT EXISTS batch_lock (
    held boolean
)
DISTSTYLE ALL;

-- The definition (SHA-256 of its SQL text) of each view this pipeline created: the view's
-- DDL, which waits for every reader of the view, runs only when it is missing or changed.
CREATE TABLE IF NOT EXISTS schema_objects (
    object_name    varchar(128) NOT NULL PRIMARY KEY,
    definition_sha varchar(64)  NOT NULL
)
DISTSTYLE ALL;
