"""The warehouse behind the batch, speed and serving views (Redshift, or PostgreSQL
locally): :mod:`.connection` (connections and transactions, :class:`Warehouse`),
:mod:`.schema` (the pipeline's tables and serving views kept as the code defines them),
:mod:`.failures` (how it fails, told apart) and :mod:`.recorder` (a recording stand-in
connection for ``make redshift-sql`` and tests). This module holds no code of its own:
it names the public API."""

from __future__ import annotations

from lambda_common.warehouse.connection import Cursor, Role, Warehouse
from lambda_common.warehouse.failures import is_transient, one_line
from lambda_common.warehouse.schema import VIEW_DDL_TIMEOUT_MS

__all__ = ["VIEW_DDL_TIMEOUT_MS", "Cursor", "Role", "Warehouse", "is_transient", "one_line"]
