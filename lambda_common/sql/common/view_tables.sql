-- A view's batch and speed tables, derived from its definition (lambda_common/views):
-- event_hour and the view's keys, then the contract's measures as exact decimals of 38
-- digits (a count may reach 2^63 - 1, so a bigint sum could overflow). The table's
-- layout and how the speed table copies the batch table's are the dialect's clauses
-- (lambda_common/sql/clauses/<dialect>.sql). <batch>, <speed>: quoted names; <keys>:
-- the key columns' definitions; <key_list>: their quoted names.
CREATE TABLE IF NOT EXISTS {batch} (
    event_hour    timestamp     NOT NULL,
    {keys},
    tweet_count   bigint        NOT NULL,
    followers_sum {exact_sum} NOT NULL,
    favorite_sum  {exact_sum} NOT NULL,
    retweet_sum   {exact_sum} NOT NULL,
    PRIMARY KEY (event_hour, {key_list})
)
{view_layout};
-- The speed layer's table: the same columns by construction.
CREATE TABLE IF NOT EXISTS {speed} ({copy_of_batch});
