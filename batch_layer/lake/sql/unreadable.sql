-- make verify: lines without the keys this version's landing writes (lang, hashtags),
-- which it cannot check: how many, and one of their objects.
SELECT COUNT(*), MIN(filename) FROM staged WHERE lang IS NULL OR hashtags IS NULL
