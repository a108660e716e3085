"""Monitoring of the pipeline: Prometheus alerting rules over the dashboard's metrics, the
project's own Prometheus (``make monitoring-up``) and a Grafana dashboard."""
