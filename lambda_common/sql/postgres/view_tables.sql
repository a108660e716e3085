-- A view's batch and speed tables, derived from its definition (lambda_common/views):
-- event_hour and the view's keys, then the contract's measures, exact numeric(38,0) sums
-- (a count may reach 2^63 - 1, so a bigint sum could overflow). <batch>, <speed>: quoted
-- names; <keys>: the key columns' definitions; <key_list>: their quoted names.
CREATE TABLE IF NOT EXISTS {batch} (
    event_hour    timestamp     NOT NULL,
    {keys},
    tweet_count   bigint        NOT NULL,
    followers_sum numeric(38,0) NOT NULL,
    favorite_sum  numeric(38,0) NOT NULL,
    retweet_sum   numeric(38,0) NOT NULL,
    PRIMARY KEY (event_hour, {key_list})
);
-- The speed layer's table: the same columns by construction.
CREATE TABLE IF NOT EXISTS {speed} (LIKE {batch} INCLUDING ALL);
