"""Batch layer: Kafka -> S3 master dataset -> warehouse COPY -> batch view and horizon."""
