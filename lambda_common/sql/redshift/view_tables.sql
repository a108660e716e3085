-- A view's batch and speed tables, derived from its definition (lambda_common/views):
-- event_hour and the view's keys, then the contract's measures as exact decimal(38,0)
-- (a count may reach 2^63 - 1). DISTSTYLE AUTO: Redshift keeps a small view on every
-- node and spreads it once it grows. <batch>, <speed>: quoted names; <keys>: the key
-- columns' definitions; <key_list>: their quoted names.
CREATE TABLE IF NOT EXISTS {batch} (
    event_hour    timestamp     NOT NULL,
    {keys},
    tweet_count   bigint        NOT NULL,
    followers_sum decimal(38,0) NOT NULL,
    favorite_sum  decimal(38,0) NOT NULL,
    retweet_sum   decimal(38,0) NOT NULL,
    PRIMARY KEY (event_hour, {key_list})
)
DISTSTYLE AUTO
SORTKEY (event_hour);
-- LIKE copies the columns, DISTSTYLE and SORTKEY.
CREATE TABLE IF NOT EXISTS {speed} (LIKE {batch});
