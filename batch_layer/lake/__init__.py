"""The master dataset queried in place: DuckDB over the gzip JSON lines in S3.

``make lake-query`` (:mod:`.query`) runs SQL over the tables ``master_tweets`` and
``master_rejects`` (:mod:`.tables`); ``make verify`` (:mod:`.verify`) recomputes every
view from them with the views' own SQL and compares with the warehouse; ``make lake-ddl``
(:mod:`.ddl`) writes the same tables' Athena/Glue and Redshift Spectrum DDL.
"""
