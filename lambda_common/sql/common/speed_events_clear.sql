-- The micro-batch's staged events, emptied in its own transaction once every view has
-- read them: DELETE, not TRUNCATE (which commits on Redshift).
DELETE FROM speed_staged_tweets;
DELETE FROM speed_staged_hashtags;
