"""A warehouse DSN (``postgresql://user@host:port/db?...``) in parts: parsed once, handed
to libpq as keywords (so no libpq error can quote it), and shown with every secret masked."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from pydantic import SecretStr

DEFAULT_WAREHOUSE_PORT = 5439
"""A DSN without a port means Redshift's port, for the project and libpq alike (the
connection is opened with the parsed parts as keywords, never libpq's own URL parser)."""

# Query parameters of a DSN whose value is a secret (libpq's ``password``, ``sslpassword``,
# and anything named like a key, token or secret), masked wherever a DSN is shown.
_SECRET_PARAM = re.compile(r"pass|secret|token|key", re.IGNORECASE)


@dataclass(frozen=True)
class DsnParts:
    """The pieces of a ``postgresql://user:password@host:port/dbname?param=value`` DSN."""

    user: str
    password: str
    host: str
    port: int
    dbname: str
    params: tuple[tuple[str, str], ...] = ()

    def connect_kwargs(self) -> dict[str, str | int]:
        """libpq keywords for ``psycopg2.connect``: the password travels as a keyword, so
        no libpq error can quote it, and the port is the project's default when unset."""
        kwargs: dict[str, str | int] = dict(self.params)
        kwargs.update(host=self.host, port=self.port, user=self.user, dbname=self.dbname)
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def libpq_environment(self) -> dict[str, str]:
        """The same connection as libpq's environment variables, for tools such as
        ``psql``: the password never appears in a command line (``ps`` shows those)."""
        names = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "options": "PGOPTIONS"}
        env = {names[k]: v for k, v in self.params if k in names}
        env.update(
            PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user, PGDATABASE=self.dbname
        )
        if self.password:
            env["PGPASSWORD"] = self.password
        return env


def parse_dsn(dsn: str) -> DsnParts:
    """Split a PostgreSQL-protocol URL DSN (PostgreSQL or Redshift); raise ``ValueError``
    with a message that never holds the password."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            "must be a postgresql:// URL (Redshift too speaks the PostgreSQL protocol): "
            "postgresql://user:password@host:5439/dbname"
        )
    try:
        host, username, port = parts.hostname, parts.username, parts.port
    except ValueError as e:  # a non-numeric or out-of-range port
        raise ValueError("has an invalid port") from e
    if not host or not username or not parts.path.strip("/"):
        raise ValueError(
            "must name a user, a host and a database: postgresql://user:password@host:port/dbname"
        )
    try:
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as e:
        raise ValueError("has a malformed query string (expected ?name=value&...)") from e
    reserved = {"host", "hostaddr", "port", "user", "password", "dbname"} & {k for k, _ in params}
    if reserved:
        raise ValueError(
            f"must give {', '.join(sorted(reserved))} in the URL itself, not as a parameter"
        )
    return DsnParts(
        user=unquote(username),
        password=unquote(parts.password or ""),
        host=host,
        port=port or DEFAULT_WAREHOUSE_PORT,
        dbname=unquote(parts.path.strip("/")),
        params=tuple(params),
    )


def mask_dsn(dsn: str) -> str:
    """The DSN with every secret replaced by ``***``: the password of its user part and
    the value of every secret-carrying query parameter (for display and error messages).
    Text that is not a URL at all is hidden whole."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "***"
    if not parts.scheme or not parts.netloc:
        return "***"
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    if parts.username is not None:
        user = parts.username + (":***" if parts.password is not None else "")
        netloc = f"{user}@{netloc}"
    query = "&".join(
        f"{name}=***" if _SECRET_PARAM.search(name) else f"{name}={quote(value, safe='')}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def with_password(dsn: SecretStr, password: SecretStr | None) -> DsnParts:
    """A DSN setting parsed, with its ``*_PASSWORD`` setting (given apart, taken as it is)
    winning over the DSN's own password."""
    parts = parse_dsn(dsn.get_secret_value())
    if password is not None:
        parts = replace(parts, password=password.get_secret_value())
    return parts


def check_tls(parts: DsnParts) -> None:
    """``ValueError`` for TLS parameters libpq would only refuse at the first connection:
    an ``sslrootcert`` that is no file, or a verifying ``sslmode`` without one."""
    params = dict(parts.params)
    root = params.get("sslrootcert")
    if root is not None and root != "system" and not Path(root).is_file():
        raise ValueError(f"sslrootcert {root[:80]!r} is not a file (a PEM of CAs, or system)")
    if params.get("sslmode") in ("verify-ca", "verify-full") and root is None:
        # libpq would look in ~/.postgresql/root.crt, then fail at the first connection.
        raise ValueError(
            f"sslmode={params['sslmode']} needs sslrootcert= (a PEM file of CAs, or system)"
        )


def verified(parts: DsnParts, dialect: str) -> DsnParts:
    """Redshift's certificate verified unless the DSN says otherwise: a DSN without
    ``sslmode`` gets ``sslmode=verify-full`` against the system's CAs (Redshift's
    certificates chain to Amazon's public CAs). PostgreSQL DSNs stay as given."""
    if dialect != "redshift" or any(k == "sslmode" for k, _ in parts.params):
        return parts
    return replace(
        parts, params=(*parts.params, ("sslmode", "verify-full"), ("sslrootcert", "system"))
    )
