"""Producers that write the event contract to Kafka: synthetic, live X (tweepy), replay."""
