"""``python -m local_stack up|down|status|restart|jars``: the local stack without Docker
(``jars NAME``: one POM's jars, e.g. ``spark-kafka-3.5``);
``python -m local_stack spark-up|spark-down|spark-status``: a Spark standalone cluster on
this machine (a master and SPARK_WORKERS workers); ``python -m local_stack serve NAME``: one
of the stack's services in the foreground (a container's main program in
docker-compose.yml)."""

from __future__ import annotations

import argparse
import logging
import sys

from lambda_common.errors import LambdaError, StackError
from lambda_common.logs import configure_logging, secret_values
from lambda_common.setting_types import HostPort, parse_hostport
from lambda_common.settings import Settings, load_settings
from local_stack.kafka_node import KafkaService
from local_stack.serve import serve
from local_stack.service import Service
from local_stack.spark import SparkCluster
from local_stack.stack import SERVICE_TYPES, LocalStack
from local_stack.tls import ensure_certificates

SPARK_COMMANDS = ("spark-up", "spark-down", "spark-status")


def _listener(text: str) -> tuple[str, HostPort]:
    name, _, address = text.partition("=")
    if not name.isidentifier() or not name.isupper() or name == "CONTROLLER":
        raise argparse.ArgumentTypeError(
            f"expected NAME=host:port with an upper-case listener name, got {text!r}"
        )
    try:
        return name, parse_hostport(address)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (1 when a service is not healthy)."""
    parser = argparse.ArgumentParser(prog="lambda-stack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "restart", "jars", "serve", "tls", *SPARK_COMMANDS],
    )
    parser.add_argument(
        "services",
        nargs="*",
        help="kafka (every node; with LOCAL_KAFKA_BROKERS=3 also kafka-1..kafka-3 alone), "
        "postgres, s3 (default: all; serve: exactly one); jars: the POMs' names "
        "(local_stack/poms)",
    )
    parser.add_argument(
        "--listener",
        type=_listener,
        action="append",
        metavar="NAME=HOST:PORT",
        help="serve kafka: a listener bound on all interfaces at PORT and advertised as "
        "HOST:PORT (repeat; the first is the inter-broker one)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve" and len(args.services) != 1:
        parser.error("serve takes exactly one service: kafka, postgres or s3")
    if args.listener and (args.command != "serve" or args.services != ["kafka"]):
        parser.error("--listener is for serve kafka")
    if args.command in SPARK_COMMANDS and args.services:
        parser.error(f"{args.command} takes no service names: it runs the whole cluster")
    try:
        settings = load_settings()
        if args.command == "serve":
            configure_logging(settings.log_level, secret_values(settings))
            return _serve(args.services[0], args.listener or [], settings)
        quiet = args.command in ("status", "spark-status")
        configure_logging("WARNING" if quiet else settings.log_level, secret_values(settings))
        stack = SparkCluster(settings) if args.command in SPARK_COMMANDS else LocalStack(settings)
        if args.command in ("up", "spark-up"):
            for line in stack.up(args.services):
                print(line)
        elif args.command in ("down", "spark-down"):
            for line in stack.down(args.services):
                print(line)
        elif args.command == "restart":
            for name in args.services or list(stack.services):
                stack.restart(name)
                print(f"{name:<9} restarted")
        elif args.command == "tls":
            files = ensure_certificates(settings)
            print(f"CA certificate:     {files.ca}")
            print(f"server certificate: {files.cert} (localhost, 127.0.0.1)")
            print(
                "serve TLS with, e.g.: KAFKA_SECURITY_PROTOCOL=SASL_SSL "
                f"KAFKA_SSL_CAFILE={files.ca} KAFKA_SASL_MECHANISM=SCRAM-SHA-512 "
                "KAFKA_SASL_USERNAME=... KAFKA_SASL_PASSWORD=... and "
                f"?sslmode=verify-full&sslrootcert={files.ca} on both DSNs "
                "(docs/security.md: TLS and SASL)"
            )
        elif args.command == "jars":
            for path in stack.fetch_jars(args.services):
                print(f"jars ready in {path}")
        else:
            healthy = True
            for st in stack.status():
                state = "healthy" if st.healthy else ("stopped" if st.pid is None else "UNHEALTHY")
                pid = str(st.pid) if st.pid else "-"
                print(f"{st.name:<9} {state:<10} pid {pid:<8} {st.detail}  (log: {st.log})")
                healthy &= st.healthy
            return 0 if healthy else 1
    except LambdaError as e:
        logging.getLogger(__name__).debug("failed", exc_info=True)
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _serve(name: str, listeners: list[tuple[str, HostPort]], settings: Settings) -> int:
    types = {cls.name: cls for cls in SERVICE_TYPES}
    if name not in types:
        raise StackError(f"unknown service {name!r}; known: {', '.join(types)}")
    home = settings.local_stack_dir.resolve()
    service: Service
    if types[name] is KafkaService:
        # A container is one Kafka node whatever LOCAL_KAFKA_BROKERS says (a .env written
        # for a 3-broker local stack is read by the Compose services too).
        kafka = KafkaService(settings, home, bind_all=True, nodes=1)
        if listeners:
            kafka.listeners = dict(listeners)
        service = kafka
    else:
        service = types[name](settings, home, bind_all=True)
    return serve(service)


if __name__ == "__main__":
    sys.exit(main())
