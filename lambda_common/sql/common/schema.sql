-- The warehouse tables of the pipeline, on Amazon Redshift and on PostgreSQL (the local
-- Redshift stand-in). Idempotent: run at every start of the batch and speed layers.
-- Where the two differ (a table's distribution and sort keys or index, a type's name), a
-- slot is filled with the dialect's clause: lambda_common/sql/clauses/<dialect>.sql.
-- varchar lengths are bytes in Redshift: 800 holds 200 code points of UTF-8.

-- Every valid, de-duplicated event ever landed: the first copy of a tweet_id wins.
CREATE TABLE IF NOT EXISTS raw_tweets (
    tweet_id        varchar(19)    NOT NULL PRIMARY KEY,
    created_at      timestamp      NOT NULL,
    event_hour      timestamp      NOT NULL,
    location        varchar(800)   NOT NULL,
    user_id         {long_text} NOT NULL,
    followers_count bigint         NOT NULL,
    favorite_count  bigint         NOT NULL,
    retweet_count   bigint         NOT NULL,
    kafka_partition integer        NOT NULL,
    kafka_offset    bigint         NOT NULL,
    lang            varchar(140)   NOT NULL DEFAULT '(unknown)'
)
{by_tweet_hour};
{raw_tweets_hour_index};

-- Each tweet's distinct hashtag keys (lambda_common.contract.normalize_hashtags), loaded in
-- the transaction that loads the tweet: the relation tweet_hashtags of the views.
-- event_hour is the tweet's, so a rebuild of some hours reads only their rows here too
-- (PostgreSQL's index: raw_hashtags_event_hour.sql, after an older table gained the column).
CREATE TABLE IF NOT EXISTS raw_hashtags (
    tweet_id   varchar(19)  NOT NULL,
    hashtag    varchar(400) NOT NULL,
    event_hour timestamp    NOT NULL,
    PRIMARY KEY (tweet_id, hashtag)
)
{by_tweet_hour};
{raw_tweet_ids_table};

-- One row per S3 object loaded; a replayed cycle finds its objects here and changes nothing.
CREATE TABLE IF NOT EXISTS load_ledger (
    object_key      varchar(1024) NOT NULL PRIMARY KEY,
    topic           varchar(249)  NOT NULL,
    kafka_partition integer       NOT NULL,
    first_offset    bigint        NOT NULL,
    last_offset     bigint        NOT NULL,
    events          bigint        NOT NULL,
    rejects         bigint        NOT NULL,
    loaded_at       timestamp     NOT NULL DEFAULT {utc_now}
)
{replicated};

-- The views' batch and speed tables (batch_view, speed_view, batch_hashtags, ...) are
-- derived from their definitions, lambda_common/views/*.sql (see view_tables.sql).

-- batch_view's totals per UTC day, rebuilt with it in one transaction: a count of distinct
-- locations cannot be added up from hours, so daily_totals reads the days wholly before
-- the horizon's day here instead of rescanning every hour.
CREATE TABLE IF NOT EXISTS batch_daily (
    event_day     date          NOT NULL PRIMARY KEY,
    tweet_count   bigint        NOT NULL,
    followers_sum {exact_sum} NOT NULL,
    favorite_sum  {exact_sum} NOT NULL,
    retweet_sum   {exact_sum} NOT NULL,
    locations     bigint        NOT NULL
)
{replicated}
{sorted_by_day};

-- A single row: hours before it are served from batch_view.
CREATE TABLE IF NOT EXISTS batch_horizon (
    horizon timestamp
)
{replicated};

-- Per Kafka partition: the horizon that partition's last batch cycle could vouch for
-- (everything read up to the end offsets seen at the cycle's start). The global horizon
-- is the least of these over all the topic's partitions, so batch processes that each
-- take some partitions never publish an hour another partition has not landed yet.
CREATE TABLE IF NOT EXISTS batch_watermarks (
    topic           varchar(249) NOT NULL,
    kafka_partition integer      NOT NULL,
    horizon         timestamp    NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
)
{replicated};

-- The last micro-batch the speed layer applied to the speed tables, and of which streaming
-- query (a checkpoint's id): written in the transaction that applies it, so a micro-batch
-- Spark replays after a crash is recognised and not applied twice. One row.
CREATE TABLE IF NOT EXISTS speed_progress (
    query_id   varchar(64) NOT NULL,
    batch_id   bigint      NOT NULL,
    updated_at timestamp   NOT NULL
)
{replicated};

-- The speed layer's de-duplication (SPEED_RETENTION): the tweet ids it counted whose hour
-- is within the retention of the newest hour it has seen, each kept with its hour, written
-- in the micro-batch's transaction (speed_dedup), so a replayed micro-batch, skipped by
-- speed_progress, changes nothing here either.
CREATE TABLE IF NOT EXISTS speed_seen (
    tweet_id   varchar(19) {seen_tweet_id},
    event_hour timestamp   NOT NULL
)
{by_tweet_id};

-- The newest event hour the speed layer has seen (its watermark is this minus
-- SPEED_RETENTION). One row.
CREATE TABLE IF NOT EXISTS speed_clock (
    newest timestamp NOT NULL
)
{replicated};

-- One row per speed-layer micro-batch (recent ones): make status reads lag and rejects here.
CREATE TABLE IF NOT EXISTS speed_batches (
    batch_id       bigint    NOT NULL PRIMARY KEY,
    input_rows     bigint    NOT NULL,
    rejects        bigint    NOT NULL,
    rows_written   bigint    NOT NULL,
    duration_ms    bigint    NOT NULL,
    max_event_time timestamp,
    finished_at    timestamp NOT NULL
)
{replicated};

-- Rows of master objects Redshift's COPY rejected (its MAXERROR lets the load go on
-- without them): the object and line, the column and Redshift's reason, as
-- SYS_LOAD_ERROR_DETAIL gave them. Never in raw_tweets, so never served; counted in
-- load_ledger.rejects of their object. make recompute clears them and records them again.
-- PostgreSQL's load rejects no row (a row it cannot take fails the load), so there the
-- table stays empty: it exists so make status and make query read the same tables on both.
CREATE TABLE IF NOT EXISTS load_rejects (
    object_key  varchar(1024) NOT NULL,
    line_number bigint        NOT NULL,
    column_name varchar(127)  NOT NULL,
    error_code  integer       NOT NULL,
    reason      varchar(512)  NOT NULL,
    recorded_at timestamp     NOT NULL DEFAULT {utc_now},
    PRIMARY KEY (object_key, line_number)
)
{replicated};

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
{replicated};

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
{replicated};

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
{replicated};

-- The batch layer's writers (cycles, make recompute, make batch-reset) serialise on a lock
-- of this table, which nobody reads: make status and readers of load_ledger never wait
-- for a load (on Redshift LOCK is ACCESS EXCLUSIVE, so locking load_ledger would make
-- make status wait out every load).
CREATE TABLE IF NOT EXISTS batch_lock (
    held boolean
)
{replicated};

-- The definition (SHA-256 of its SQL text) of each view this pipeline created: the view's
-- DDL, which waits for every reader of the view, runs only when it is missing or changed.
CREATE TABLE IF NOT EXISTS schema_objects (
    object_name    varchar(128) NOT NULL PRIMARY KEY,
    definition_sha varchar(64)  NOT NULL
)
{replicated};
