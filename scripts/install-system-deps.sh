#!/usr/bin/env bash
# Install the system programs the local stack and the tests need, from Debian's packages:
# PostgreSQL (the Redshift stand-in), a Java 17 runtime and Maven (Kafka and S3Proxy come
# from Maven Central), kcat and psql (checks and benchmarks), Chromium (the dashboard's
# browser test). A no-op when all are present.
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
command -v runuser >/dev/null || missing+=(util-linux)
# The dashboard's browser test drives Debian's Chromium headless (no browser download).
command -v chromium >/dev/null || missing+=(chromium)

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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system packages installed" >&2
