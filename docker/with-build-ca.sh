#!/bin/sh
# with-build-ca.sh COMMAND...: run one build step's command trusting the CA bundle handed to
# the build as the BuildKit secret "build_ca_bundle" (behind a TLS-inspecting proxy, PyPI
# and Maven Central verify only with the host's own bundle). Without the secret, the
# command runs with the image's stock trust. The secret is a mount of this one step, and
# the Java trust store made from it lives in a tmpfs of this step: neither is ever written
# to an image layer.
set -eu

bundle=/run/secrets/build_ca_bundle
if [ ! -s "$bundle" ]; then
  exec "$@"
fi

# Python (pip), and anything else that reads the usual variables.
export PIP_CERT="$bundle" SSL_CERT_FILE="$bundle" REQUESTS_CA_BUNDLE="$bundle"

# Java (Maven): the JRE's trust store plus every certificate of the bundle that the image
# does not trust already (usually just the proxy's own CA).
if command -v keytool >/dev/null && [ -f /etc/ssl/certs/java/cacerts ]; then
  work=$(mktemp -d)
  cp /etc/ssl/certs/java/cacerts "$work/truststore"
  python3 - "$bundle" /etc/ssl/certs/ca-certificates.crt "$work" <<'EOF'
import re
import sys
from pathlib import Path

pem = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def certs(path):
    return {re.sub(r"\s", "", c): c for c in pem.findall(Path(path).read_text(errors="replace"))}


given, known = certs(sys.argv[1]), certs(sys.argv[2])
for n, key in enumerate(sorted(set(given) - set(known))):
    Path(sys.argv[3], f"extra-{n}.pem").write_text(given[key] + "\n")
EOF
  for cert in "$work"/extra-*.pem; do
    [ -e "$cert" ] || continue
    keytool -importcert -noprompt -keystore "$work/truststore" -storepass changeit \
      -alias "build-ca-$(basename "$cert" .pem)" -file "$cert" >/dev/null 2>&1 \
      || echo "with-build-ca: $cert not imported into the Java trust store" >&2
  done
  export MAVEN_OPTS="${MAVEN_OPTS:-} -Djavax.net.ssl.trustStore=$work/truststore -Djavax.net.ssl.trustStorePassword=changeit"
  status=0
  "$@" || status=$?
  rm -rf "$work"
  exit "$status"
fi
exec "$@"
