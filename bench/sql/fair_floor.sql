-- The batch benchmark's fair floor, after its \copy of the kcat lines (partition, offset,
-- JSON value) into floor_staging: the cycle's semantic work in plain SQL, in the same
-- transaction. The horizon and the views' rebuild SQL are filled in by bench/fair_floor.py.
--
-- Validation and key normalisation are approximate (what a stock-tool user would write):
-- rows lacking tweet_id or created_at are skipped (no other rule of the contract is
-- checked, and nothing goes to a rejects object); location and lang are trimmed of ASCII
-- whitespace and cut (lang lower-cased), hashtags trimmed, one leading '#' dropped,
-- lower-cased and cut (chr(11): PostgreSQL has no \\v escape); the cuts are not trimmed again, and lower() is PostgreSQL's, not
-- Python's str.lower(), so exotic keys may differ from the cycle's.
-- The first copy of a tweet_id wins (lowest offset), as in the cycle: rows are inserted
-- in offset order and ON CONFLICT DO NOTHING keeps the first.
CREATE TEMP TABLE floor_inserted ON COMMIT DROP AS
WITH inserted AS (
    INSERT INTO raw_tweets (
        tweet_id, created_at, event_hour, location, user_id,
        followers_count, favorite_count, retweet_count, kafka_partition, kafka_offset, lang
    )
    SELECT
        doc ->> 'tweet_id',
        stamp,
        date_trunc('hour', stamp),
        COALESCE(NULLIF(left(btrim(doc ->> 'location', E' \t\n\r\f' || chr(11)), 200), ''), '(unknown)'),
        COALESCE(doc ->> 'user_id', ''),
        COALESCE(CAST(doc ->> 'followers_count' AS bigint), 0),
        COALESCE(CAST(doc ->> 'favorite_count' AS bigint), 0),
        COALESCE(CAST(doc ->> 'retweet_count' AS bigint), 0),
        kafka_partition,
        kafka_offset,
        COALESCE(NULLIF(left(lower(btrim(doc ->> 'lang', E' \t\n\r\f' || chr(11))), 35), ''), '(unknown)')
    FROM (
        SELECT
            kafka_partition,
            kafka_offset,
            doc,
            CAST(doc ->> 'created_at' AS timestamptz) AT TIME ZONE 'UTC' AS stamp
        FROM floor_staging
        WHERE doc ? 'tweet_id' AND doc ? 'created_at'
    ) AS s
    ORDER BY kafka_offset, kafka_partition
    ON CONFLICT (tweet_id) DO NOTHING
    RETURNING tweet_id, event_hour, kafka_partition, kafka_offset
)
SELECT * FROM inserted;
-- Each new tweet's hashtag keys: a tweet's repeated key is kept once by the primary key.
INSERT INTO raw_hashtags (tweet_id, hashtag, event_hour)
SELECT i.tweet_id, k.hashtag, i.event_hour
FROM floor_inserted AS i
JOIN floor_staging AS s
  ON s.kafka_partition = i.kafka_partition AND s.kafka_offset = i.kafka_offset
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE jsonb_typeof(s.doc -> 'hashtags') WHEN 'array' THEN s.doc -> 'hashtags' END
) AS h (tag)
CROSS JOIN LATERAL (SELECT btrim(h.tag, E' \t\n\r\f' || chr(11)) AS t) AS trimmed
CROSS JOIN LATERAL (
    SELECT left(lower(CASE WHEN left(trimmed.t, 1) = '#' THEN substr(trimmed.t, 2) ELSE trimmed.t END), 100)
) AS k (hashtag)
WHERE k.hashtag <> ''
ON CONFLICT DO NOTHING;
-- The touched hours before the horizon, as one range (the views' own SQL reads it).
CREATE TEMP TABLE floor_range ON COMMIT DROP AS
SELECT min(event_hour) AS since, CAST('{horizon}' AS timestamp) AS until
FROM floor_inserted
WHERE event_hour < CAST('{horizon}' AS timestamp);
-- batch_daily is kept per whole UTC day: the days the range touches.
CREATE TEMP TABLE floor_days ON COMMIT DROP AS
SELECT date_trunc('day', since) AS since,
       date_trunc('day', until - interval '1 hour') + interval '1 day' AS until
FROM floor_range;
{view_rebuild}
DELETE FROM batch_horizon;
INSERT INTO batch_horizon (horizon) VALUES (CAST('{horizon}' AS timestamp));
