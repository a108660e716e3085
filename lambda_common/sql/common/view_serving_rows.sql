-- One table's rows in a serving view (view_serving.sql), its sums as text (why: there):
-- lambda_common.views.sql.serving_ddl fills this in for the batch table (b) and for the
-- speed table (s). <table>: the quoted name; <alias>: b or s; <keys>: the key columns.
    SELECT
        {keys},
        {alias}.tweet_count,
        CAST({alias}.followers_sum AS VARCHAR(40)) AS followers_sum,
        CAST({alias}.favorite_sum AS VARCHAR(40)) AS favorite_sum,
        CAST({alias}.retweet_sum AS VARCHAR(40)) AS retweet_sum
    FROM {table} AS {alias}
    CROSS JOIN h
