SELECT MAX(horizon) FROM batch_horizon;
