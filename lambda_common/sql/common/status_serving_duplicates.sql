-- (hour, location) groups served more than once: the serving view promises none.
SELECT COUNT(*)
FROM (
    SELECT event_hour, location
    FROM serving_view
    GROUP BY event_hour, location
    HAVING COUNT(*) > 1
) AS twice;
