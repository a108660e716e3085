-- view: hashtags
-- key: hashtag varchar(400)
-- reads: tweet_hashtags
--
-- Tweets per hour and hashtag (CONTRACT section 2b). A tweet counts once for each
-- distinct hashtag key it carries (lambda_common.contract.normalize_hashtags: trimmed,
-- one leading '#' removed, lower-cased, 100 code points); tweets without hashtags do not
-- appear. 400 bytes hold 100 code points of UTF-8.
SELECT
    event_hour,
    hashtag,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweet_hashtags
GROUP BY event_hour, hashtag
