-- Session-private tables of one micro-batch's valid events, each with its place in the
-- topic (de-duplicated here, speed_dedup: what is left is the relation "tweets"), and
-- their hashtag keys by the same place (with "tweet_hashtags"'s other columns joined in,
-- see speed_relation_tweet_hashtags): made once per connection and reused, each micro-batch
-- empties them with DELETE in its own transaction (speed_events_clear), like the views'
-- staging tables (view_speed_staging). Types as raw_tweets and raw_hashtags hold them (user_id
-- varchar(65535) on both warehouses: PostgreSQL keeps text there, and takes this too).
DROP TABLE IF EXISTS speed_staged_tweets;
CREATE TEMP TABLE speed_staged_tweets (
    tweet_id        varchar(19)  NOT NULL,
    event_hour      timestamp    NOT NULL,
    location        varchar(800) NOT NULL,
    lang            varchar(140) NOT NULL,
    user_id         varchar(65535) NOT NULL,
    followers_count bigint       NOT NULL,
    favorite_count  bigint       NOT NULL,
    retweet_count   bigint       NOT NULL,
    kafka_partition integer      NOT NULL,
    kafka_offset    bigint       NOT NULL
);
DROP TABLE IF EXISTS speed_staged_hashtags;
CREATE TEMP TABLE speed_staged_hashtags (
    kafka_partition integer      NOT NULL,
    kafka_offset    bigint       NOT NULL,
    hashtag         varchar(400) NOT NULL
);
