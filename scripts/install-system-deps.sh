#!/usr/bin/env bash
# Install the system programs the local stack and the tests need, from Debian's packages:
# PostgreSQL (the Redshift stand-in), a Java 17 runtime and Maven (Kafka and S3Proxy come
# from Maven Central), kcat, psql and s3cmd (checks and benchmarks), Chromium (the dashboard's
# browser test), Prometheus with promtool (the alert rules' tests, make monitoring-up).
# A no-op when all are present.
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

missing=()
have_pg_server() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }
java_major() { java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'; }

command -v python3.11 >/dev/null || missing+=(python3.11)
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(openjdk-17-jre-headless); fi
command -v mvn >/dev/null || missing+=(maven)
have_pg_server || missing+=(postgresql-15)
command -v psql >/dev/null || missing+=(postgresql-client-15)
command -v kcat >/dev/null || missing+=(kcat)
# s3cmd: the batch benchmark's stock floor uploads its objects with it.
command -v s3cmd >/dev/null || missing+=(s3cmd)
command -v runuser >/dev/null || missing+=(util-linux)
# The dashboard's browser test drives Debian's Chromium headless (no browser download).
command -v chromium >/dev/null || missing+=(chromium)
# Debian's Prometheus: promtool tests the alert rules (monitoring/), and make monitoring-up
# runs the prometheus binary in LOCAL_STACK_DIR.
command -v promtool >/dev/null && command -v prometheus >/dev/null || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The Debian package would otherwise create and start its own cluster on port 5432;
# the local stack runs PostgreSQL in its own data directory instead.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/lambda-no-main-cluster.conf
# The prometheus package would start its own server on port 9090 (PROMETHEUS_PORT's
# default) as a system service; the project runs the binary itself (make monitoring-up).
# A policy-rc.d that denies every start keeps it stopped, unless the machine has one.
stop_policy=""
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  stop_policy=/usr/sbin/policy-rc.d
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ -n "$stop_policy" ]; then
  rm -f "$stop_policy"
  # ... and on a systemd machine, not at the next boot either.
  if [ -d /run/systemd/system ]; then systemctl disable --quiet prometheus 2>/dev/null || true; fi
fi
echo "system packages installed" >&2
