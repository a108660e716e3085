"""Speed layer: the Spark Structured Streaming job that keeps the speed view."""
