"""``python -m local_stack up|down|status|jars``: the local stack without Docker."""

from __future__ import annotations

import argparse
import logging
import sys

from lambda_common.errors import LambdaError
from lambda_common.logs import configure_logging
from lambda_common.settings import load_settings
from local_stack.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (1 when a service is not healthy)."""
    parser = argparse.ArgumentParser(prog="lambda-stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "restart", "jars"])
    parser.add_argument("services", nargs="*", help="kafka, postgres, s3 (default: all)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        configure_logging("WARNING" if args.command == "status" else settings.log_level)
        stack = LocalStack(settings)
        if args.command == "up":
            for line in stack.up(args.services):
                print(line)
        elif args.command == "down":
            for line in stack.down(args.services):
                print(line)
        elif args.command == "restart":
            for name in args.services or list(stack.services):
                stack.restart(name)
                print(f"{name:<9} restarted")
        elif args.command == "jars":
            for path in stack.fetch_jars():
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


if __name__ == "__main__":
    sys.exit(main())
