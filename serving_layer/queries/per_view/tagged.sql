    SELECT v.*, CASE WHEN v.event_hour < h.horizon THEN 'batch' ELSE 'speed' END AS layer
    FROM {serving} AS v
    CROSS JOIN (SELECT MAX(horizon) AS horizon FROM batch_horizon) AS h
