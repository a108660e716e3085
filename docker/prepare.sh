#!/usr/bin/env bash
# docker/prepare.sh [all|engine|compose|base|stop]: make the Docker path usable on this machine.
#   engine   a Docker engine that answers: the one already there; else, as root, Debian's
#            docker.io with dockerd started on its own data and exec roots under the user's
#            cache folder (left running for the next run; `stop` ends it)
#   compose  Compose v2: `docker compose` if present; else the plugin built once from its
#            Go module (pinned below) with this machine's Go, into ~/.docker/cli-plugins
#   base     debian:bookworm-slim: pulled, or made with debootstrap (docker/base-image.sh)
#   all      the three, in that order (the default)
# Each step is a no-op when what it makes is there. Exit 0 when the Docker path is ready;
# 3 with one line saying why when it cannot be made ready here (`make test` then skips the
# Docker test with that line); anything else is a real failure.
set -euo pipefail

COMPOSE_VERSION=v2.40.3
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/lambda-tweets"
ENGINE_DIR="$CACHE/docker"
PLUGINS="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
HERE="$(cd "$(dirname "$0")" && pwd)"

say() { echo "docker-prepare: $*" >&2; }
cannot() { say "$*"; exit 3; }

engine_answers() { command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
}

engine() {
  if engine_answers; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if command -v docker >/dev/null; then
      cannot "no Docker engine answers (\`docker info\` failed) and starting one needs root"
    fi
    cannot "no Docker engine here (no docker command) and installing one needs root"
  fi
  if ! command -v dockerd >/dev/null; then
    say "installing Debian's docker.io (engine, containerd, runc)"
    apt_install docker.io || cannot "apt-get could not install docker.io"
  fi
  mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
  say "starting dockerd (data root $ENGINE_DIR/data, log $ENGINE_DIR/dockerd.log)"
  # setsid + nohup: the engine outlives this shell and the test run that started it.
  setsid nohup dockerd --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
    --pidfile "$ENGINE_DIR/dockerd.pid" >>"$ENGINE_DIR/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if engine_answers; then
      say "engine ready: $(docker version -f 'Docker Engine {{.Server.Version}}' 2>/dev/null)"
      return 0
    fi
    sleep 1
  done
  tail -n 5 "$ENGINE_DIR/dockerd.log" >&2 || true
  cannot "dockerd did not answer within 60 s (see $ENGINE_DIR/dockerd.log)"
}

compose() {
  if docker compose version >/dev/null 2>&1; then
    return 0
  fi
  command -v go >/dev/null || cannot "no \`docker compose\` and no Go to build Compose $COMPOSE_VERSION from its module"
  say "building the Compose $COMPOSE_VERSION plugin from its Go module (once)"
  local info src work log="$CACHE/compose-build.log"
  mkdir -p "$CACHE" "$PLUGINS"
  info=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" 2>"$log") \
    || cannot "go mod download of github.com/docker/compose/v2@$COMPOSE_VERSION failed (see $log)"
  src=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' <<<"$info")
  work=$(mktemp -d)
  cp -r "$src" "$work/compose"
  chmod -R u+w "$work/compose"
  # Go's download chatter goes to the log; its last lines are shown if the build fails.
  if ! (cd "$work/compose" && go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$PLUGINS/docker-compose" ./cmd) >>"$log" 2>&1; then
    rm -rf "$work"
    tail -n 5 "$log" >&2
    cannot "building Compose failed (see $log)"
  fi
  rm -rf "$work"
  docker compose version >/dev/null || cannot "the built Compose plugin does not run"
  say "$(docker compose version)"
}

stop() {
  local pid
  pid=$(cat "$ENGINE_DIR/dockerd.pid" 2>/dev/null || true)
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    say "no dockerd started by this project is running"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || { say "dockerd stopped"; return 0; }
    sleep 1
  done
  cannot "dockerd did not stop within 30 s"
}

case "${1:-all}" in
  engine) engine ;;
  compose) compose ;;
  base) bash "$HERE/base-image.sh" ;;
  all) engine && compose && bash "$HERE/base-image.sh" ;;
  stop) stop ;;
  *) echo "usage: $0 [all|engine|compose|base|stop]" >&2; exit 2 ;;
esac
