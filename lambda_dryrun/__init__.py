"""``make redshift-sql``: the SQL of the Redshift path, recorded from the code itself.

Not a layer: like ``lambda_demo`` it drives every layer's own code (``make init``'s
schema, a batch cycle, a speed micro-batch) against a recording connection, and writes
what was sent as a SQL script. See :mod:`lambda_dryrun.dryrun`.
"""
