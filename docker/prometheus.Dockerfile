# Prometheus for the Compose stack's `monitoring` profile (docker compose --profile
# monitoring up -d): Debian's own prometheus package on debian:bookworm-slim, nothing else
# pulled, the same binary `make monitoring-up` runs on a machine. Its configuration and the
# project's alert rules are written for the stack's settings by the `prometheus-config`
# one-shot (python -m lambda_monitoring config, in the project's image) into a volume;
# its samples go to the `prometheus-data` volume. Runs as the package's own user, made
# first with a fixed id below 1000 (the package's postinst takes an existing system user
# as it is, and refuses a user of a higher id).
FROM debian:bookworm-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Pinned by the base image's release (bookworm), as docker/Dockerfile explains. The
# package's postinst would start its service: a policy-rc.d that denies starts (the
# official image has one; a debootstrapped base may not) keeps the build to installing.
# hadolint ignore=DL3008
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
    && echo 'Binary::apt::APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/keep-cache \
    && { [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; } \
    && chmod 755 /usr/sbin/policy-rc.d \
    && groupadd --system --gid 990 prometheus \
    && useradd --system --uid 990 --gid prometheus --home-dir /var/lib/prometheus \
        --no-create-home --shell /usr/sbin/nologin prometheus \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
USER 990:990
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
