"""PostgreSQL, the Redshift stand-in of the local stack: its data directory, its
configuration on a machine and in a container, and the pipeline's and the reader's roles."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
from pathlib import Path

import psycopg2
from psycopg2 import sql

from lambda_common.errors import StackError
from lambda_common.setting_types import HostPort
from lambda_common.settings import Settings
from lambda_common.sql import load_sql, statements
from local_stack.process import log_tail, pid_alive, resolve_host
from local_stack.service import Port, Service
from local_stack.tls import postgres_tls, tls_files

logger = logging.getLogger(__name__)


_HBA_MARKER = "# local_stack serve: the container's network"
_TLS_RULE = "hostnossl all all all reject  # local_stack: TLS required (the DSN's sslmode)"


def _pg_bindir() -> Path:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise StackError(
        "PostgreSQL server binaries not found: run 'make deps' as root, "
        "or apt-get install postgresql-15"
    )


class PostgresService(Service):
    """PostgreSQL from the distribution, in a data directory of the stack.

    PostgreSQL refuses to run as root; when we are root it runs as the ``postgres`` system
    user (created by the Debian package). A superuser password is generated on first
    start and kept in the stack folder; the pipeline connects as the ``WAREHOUSE_DSN``
    user, which owns its database and nothing else, and whatever reads for people as the
    ``QUERY_DSN`` user, which may only connect (its reads are the pipeline's to grant).
    """

    name = "postgres"
    run_as = "postgres"
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
    stop_signal = signal.SIGINT

    def __init__(self, settings: Settings, stack_dir: Path, *, bind_all: bool = False) -> None:
        super().__init__(settings, stack_dir, bind_all=bind_all)
        self.as_root = os.geteuid() == 0

    # Paths handed to PostgreSQL are resolved: when the home is a symlink (see
    # _place_home) the postgres user can follow the target but not the checkout's path.
    @property
    def data(self) -> Path:
        return self.home.resolve() / "data"

    @property
    def log_path(self) -> Path:
        return self.home.resolve() / f"{self.name}.log"

    def _place_home(self) -> None:
        """Make sure the ``postgres`` user can reach the data directory (root only)."""
        if not self.as_root or self.home.is_symlink() or self.home.exists():
            return
        if self._reachable_by_run_as(self.stack_dir):
            return
        # The postgres user cannot reach the checkout (e.g. it lives under /root): keep the
        # data under /var/lib and leave a symlink in the stack folder so it is found there.
        digest = hashlib.sha256(str(self.stack_dir).encode()).hexdigest()[:16]
        real = Path("/var/lib/lambda-stack") / digest
        real.mkdir(parents=True, exist_ok=True)
        self.home.symlink_to(real, target_is_directory=True)
        logger.info("postgres cannot reach %s; its data lives in %s", self.stack_dir, real)

    def _reachable_by_run_as(self, path: Path) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["runuser", "-u", self.run_as, "--", "test", "-x", str(path.resolve())],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    @property
    def superuser_password_path(self) -> Path:
        return self.home.resolve() / "superuser.pw"

    def ports(self) -> list[Port]:
        dsn = self.settings.warehouse
        return [Port("WAREHOUSE_DSN", HostPort(dsn.host, dsn.port))]

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            argv = ["runuser", "-u", self.run_as, "--", *argv]
        return subprocess.run(
            argv, capture_output=True, text=True, check=check, start_new_session=True
        )

    def _own(self, path: Path) -> None:
        if self.as_root:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid_alive(pid, "postgres") else None

    def _init(self) -> None:
        bindir = _pg_bindir()
        if self.as_root:
            try:
                pwd.getpwnam(self.run_as)
            except KeyError:
                raise StackError(
                    f"running as root needs the '{self.run_as}' system user "
                    "(apt-get install postgresql)"
                ) from None
        self.home.mkdir(parents=True, exist_ok=True)
        self._own(self.home)
        self.home.chmod(0o700)
        pw_file = self.superuser_password_path
        pw_file.write_text(secrets.token_urlsafe(24) + "\n")
        pw_file.chmod(0o600)
        self._own(pw_file)
        result = self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pw_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise StackError(f"initdb failed: {(result.stdout + result.stderr).strip()[-300:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'lambda.conf'\n")
        logger.info("initialised PostgreSQL data directory %s", self.data)

    def _configure(self) -> None:
        """Initialise the data directory on first use and write our part of the config."""
        if not (self.data / "PG_VERSION").exists():
            self._place_home()
            self._init()
        (address,) = (p.address for p in self.ports())
        if self.bind_all:
            listen = "*"
        else:
            listen = "localhost" if address.host == "localhost" else address.host
        conf = self.data / "lambda.conf"
        conf.write_text(
            "# Written by local_stack on every start: edit the settings, not this file.\n"
            f"port = {address.port}\n"
            f"listen_addresses = '{listen}'\n"
            "unix_socket_directories = ''\n"  # TCP only: no socket path length or permission issues
            "max_connections = 100\n"
            # A batch cycle sorts and hashes a cycle's events and its touched hours in
            # one transaction: PostgreSQL's defaults (128MB, 4MB) spill them to disk and
            # evict the indexes the de-duplication probes.
            "shared_buffers = 512MB\n"
            "work_mem = 32MB\n"
            "logging_collector = off\n"
            # The default, written down: with it on, large objects would skip their
            # privilege checks (and the reader could read or write any of them).
            "lo_compat_privileges = off\n" + self._tls_conf()
        )
        self._own(conf)
        self._require_tls(postgres_tls(self.settings))
        if self.bind_all:
            self._allow_network()

    def _tls_conf(self) -> str:
        """TLS with the local stack's certificate when the pipeline's DSN asks for it
        (``sslmode=require`` or ``verify-*``): the key copied into the data directory,
        where the server's user owns it (PostgreSQL refuses a key others can read)."""
        if not postgres_tls(self.settings):
            return ""
        files = tls_files(self.settings)
        if not files.exist():
            raise StackError(
                "WAREHOUSE_DSN asks for TLS (sslmode): run make local-tls first, then give "
                f"sslrootcert={files.ca}"
            )
        for source, name, mode in (
            (files.cert, "server.pem", 0o644),
            (files.key, "server-key.pem", 0o600),
        ):
            target = self.data / name
            shutil.copyfile(source, target)
            target.chmod(mode)
            self._own(target)
        return "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server-key.pem'\n"

    def _require_tls(self, required: bool) -> None:
        """pg_hba.conf's first rule refuses connections without TLS, in the TLS mode only."""
        hba = self.data / "pg_hba.conf"
        lines = [line for line in hba.read_text().splitlines() if line != _TLS_RULE]
        hba.write_text("\n".join([_TLS_RULE, *lines] if required else lines) + "\n")

    def _allow_network(self) -> None:
        """Let the pipeline's role in from the container's own network (the other
        containers, and the host through the published port); the superuser stays
        reachable only from inside the container."""
        hba = self.data / "pg_hba.conf"
        text = hba.read_text()
        if _HBA_MARKER not in text:
            hba.write_text(
                text.rstrip("\n")
                + f"\n\n{_HBA_MARKER}\n"
                + "host all postgres samenet reject\n"
                + "host all all samenet scram-sha-256\n"
            )

    def foreground_command(self) -> list[str]:
        self._configure()
        argv = [str(_pg_bindir() / "postgres"), "-D", str(self.data)]
        return ["runuser", "-u", self.run_as, "--", *argv] if self.as_root else argv

    def start(self) -> None:
        self._configure()
        self.log_path.touch(exist_ok=True)
        self._own(self.log_path)
        result = self._run(
            [
                str(_pg_bindir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=False,
        )
        if result.returncode != 0:
            raise StackError(
                f"postgres failed to start; see {self.log_path}: {log_tail(self.log_path, 3)}"
            )

    def _admin_connect(self, dbname: str = "postgres") -> psycopg2.extensions.connection:
        address = self.ports()[0].address
        return psycopg2.connect(
            # In a container the superuser may only come from inside it (_allow_network).
            host="127.0.0.1" if self.bind_all else resolve_host(address.host),
            port=address.port,
            user="postgres",
            dbname=dbname,
            password=self.superuser_password_path.read_text().strip(),
            connect_timeout=3,
            # The TLS mode refuses connections without it, the superuser's too.
            sslmode="require" if postgres_tls(self.settings) else "prefer",
        )

    def checkpoint(self) -> None:
        """Run CHECKPOINT as the superuser (the pipeline's role may not): a benchmark
        settles the server after bulk writes so they are not paid for by what it times."""
        with contextlib.closing(self._admin_connect()) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CHECKPOINT")

    def probe(self) -> str:
        with contextlib.closing(self._admin_connect()) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version")
            row = cur.fetchone()
        return f"PostgreSQL {row[0] if row else '?'} on port {self.ports()[0].address.port}"

    def after_healthy(self) -> None:
        """Create (or update) the pipeline's role and database from ``WAREHOUSE_DSN``, and
        the reader role of ``QUERY_DSN`` (see :meth:`_ensure_reader`)."""
        dsn = self.settings.warehouse
        reader = self.settings.query
        if "postgres" in (dsn.user, reader.user):
            raise StackError(
                "WAREHOUSE_DSN and QUERY_DSN must not use the superuser 'postgres': "
                "name a pipeline user and a reader user"
            )
        if reader.user == dsn.user:
            raise StackError(
                f"QUERY_DSN must name a user of its own, not the pipeline's {dsn.user!r}: "
                "the reader may only read"
            )
        with contextlib.closing(self._admin_connect()) as conn:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                self._check_connection_limit(cur)
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (dsn.user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(
                    sql.SQL(verb + " ROLE {} WITH LOGIN PASSWORD %s").format(
                        sql.Identifier(dsn.user)
                    ),
                    (dsn.password,),
                )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dsn.dbname,))
                if cur.fetchone() is None:
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(dsn.dbname), sql.Identifier(dsn.user)
                        )
                    )
                    logger.info("created database %s owned by %s", dsn.dbname, dsn.user)
                self._ensure_reader(cur, reader.user, reader.password, dsn.dbname)
        with contextlib.closing(self._admin_connect(dsn.dbname)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for statement in statements(load_sql("reader_database_setup", "postgres")):
                    cur.execute(statement)

    def _check_connection_limit(self, cur: psycopg2.extensions.cursor) -> None:
        """Refuse a QUERY_CONNECTION_LIMIT that would let readers hold more than half of
        the connections the server keeps for roles other than the superuser."""
        cur.execute(statements(load_sql("server_connections", "postgres"))[0])
        row = cur.fetchone()
        if row is None:
            return
        available = int(row[0]) - int(row[1])
        limit = self.settings.query_connection_limit
        if limit > available // 2:
            raise StackError(
                f"QUERY_CONNECTION_LIMIT={limit} would let readers hold more than half of "
                f"the {available} connections PostgreSQL has for the pipeline and its "
                f"readers (max_connections {row[0]}): give at most {available // 2}"
            )

    def _ensure_reader(
        self, cur: psycopg2.extensions.cursor, user: str, password: str, dbname: str
    ) -> None:
        """Create QUERY_DSN's user if missing, then (re)apply what it may do: log in,
        with at most QUERY_CONNECTION_LIMIT connections and QUERY_STATEMENT_TIMEOUT as its
        sessions' statement timeout, and connect to the pipeline's database, nothing
        more. Settings it gave itself are dropped, in every database; no other database
        lets it (or any role but the superuser) connect. Its reads of the tables are
        granted by the pipeline's role, which owns them (``Warehouse.ensure_schema``)."""
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
        if cur.fetchone() is None:
            cur.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(user)))
            logger.info("created the reader role %s", user)
        reader = sql.Identifier(user)
        params = {
            "password": password,
            "connection_limit": self.settings.query_connection_limit,
            "statement_timeout_ms": self.settings.query_statement_timeout * 1000,
        }
        self._run_for(cur, "reader_role_setup", reader, sql.Identifier(dbname), params)
        # RESET ALL above leaves what the role set for one database (ALTER ROLE ... IN
        # DATABASE ... SET): a search_path set so would hide the tables from its sessions.
        cur.execute(statements(load_sql("reader_role_databases", "postgres"))[0], {"reader": user})
        for (database,) in cur.fetchall():
            self._run_for(cur, "reader_role_database_reset", reader, sql.Identifier(database))
        cur.execute(
            statements(load_sql("reader_other_databases", "postgres"))[0], {"database": dbname}
        )
        for (database,) in cur.fetchall():
            self._run_for(cur, "reader_other_database_revoke", reader, sql.Identifier(database))

    @staticmethod
    def _run_for(
        cur: psycopg2.extensions.cursor,
        name: str,
        reader: sql.Identifier,
        database: sql.Identifier,
        params: dict[str, object] | None = None,
    ) -> None:
        """The statements of ``name`` with ``{reader}`` and ``{database}`` filled in."""
        for statement in statements(load_sql(name, "postgres")):
            cur.execute(sql.SQL(statement).format(reader=reader, database=database), params)

    def stop(self) -> None:
        if self.pid() is None:
            return
        result = self._run(
            [
                str(_pg_bindir() / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ],
            check=False,
        )
        if result.returncode != 0 and self.pid() is not None:
            raise StackError(
                f"postgres did not stop: {(result.stdout + result.stderr).strip()[-200:]}"
            )
