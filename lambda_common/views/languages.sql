-- view: languages
-- key: lang varchar(140)
-- reads: tweets
--
-- Tweets per hour and language (CONTRACT section 2b): lang trimmed, lower-cased, cut to
-- 35 code points, '(unknown)' when absent or blank (lambda_common.contract.normalize_lang).
-- 140 bytes hold 35 code points of UTF-8.
SELECT
    event_hour,
    lang,
    COUNT(*)                                     AS tweet_count,
    SUM(CAST(followers_count AS DECIMAL(38, 0))) AS followers_sum,
    SUM(CAST(favorite_count AS DECIMAL(38, 0)))  AS favorite_sum,
    SUM(CAST(retweet_count AS DECIMAL(38, 0)))   AS retweet_sum
FROM tweets
GROUP BY event_hour, lang
