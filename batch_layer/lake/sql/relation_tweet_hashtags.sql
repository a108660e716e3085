-- make verify: the relation "tweet_hashtags" the views read, from the master dataset: one
-- row per de-duplicated tweet (winners.sql) of the hours $since <= event_hour < $until and
-- distinct hashtag key it carries. <columns>: the relation's columns
-- (lambda_common.views.RELATIONS).
CREATE TABLE tweet_hashtags AS
SELECT DISTINCT {columns}
FROM (
    SELECT *, unnest(hashtags) AS hashtag
    FROM winners
    WHERE event_hour >= $since AND event_hour < $until
) AS tagged
