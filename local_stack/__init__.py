"""The local stack: real Kafka (KRaft), PostgreSQL (the Redshift stand-in) and an S3 server
(S3Proxy on disk), run as plain processes with all state under ``LOCAL_STACK_DIR``.

It is development and test infrastructure, not part of the pipeline: no layer imports it.
"""
