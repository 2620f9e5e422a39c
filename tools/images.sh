#!/usr/bin/env bash
# Docker for the testcontainers target: `up` installs docker.io and starts dockerd when none answers,
# `down` stops the dockerd that `up` started (and no other), `images` builds the stack's images
# from what is installed here (images/*/Dockerfile.local: no registry is needed), once per content.
#
# Images are tagged with a hash of their build context, so an unchanged context is not rebuilt, and
# also as :local, which the testcontainers target uses unless FAULTLINE_STACK_IMAGE or
# FAULTLINE_TOXIPROXY_IMAGE name others.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cache="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
state="$cache/docker"
pidfile="$state/dockerd.pid"
mkdir -p "$state"

say() { printf 'images: %s\n' "$*"; }
need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

up() {
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io (debian package)"
    local s; s="$(need_sudo)"
    export DEBIAN_FRONTEND=noninteractive
    $s apt-get install -y -qq --no-install-recommends docker.io >/dev/null 2>&1 || { $s apt-get update -qq && $s apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
  fi
  if engine_answers; then
    say "a docker engine is running ($(docker version --format '{{.Server.Version}}'))"
    return
  fi
  say "starting dockerd (log: $state/dockerd.log; \`bash tools/images.sh down\` stops it)"
  local s; s="$(need_sudo)"
  # no userland proxy: published ports go through iptables, not a copying process per connection
  # (the load crosses them at thousands of requests a second)
  $s setsid dockerd --pidfile "$pidfile" --userland-proxy=false >"$state/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    engine_answers && { say "dockerd ready"; return; }
    sleep 0.5
  done
  echo "images: dockerd did not answer within 30 s; the end of $state/dockerd.log:" >&2
  tail -n 20 "$state/dockerd.log" >&2
  exit 1
}

down() {
  [ -f "$pidfile" ] || { say "no dockerd started by faultline"; return; }
  local pid s; pid="$(cat "$pidfile")"; s="$(need_sudo)"
  if $s kill -0 "$pid" 2>/dev/null; then
    say "stopping the dockerd faultline started (pid $pid)"
    $s kill "$pid"
    for _ in $(seq 1 40); do $s kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$pidfile"
}

# Copies each binary and every shared library it links (as ldd resolves them) into ROOTFS, at the
# same paths, so that a FROM scratch image runs them. BIN may be "src:dest" to place it elsewhere.
with_libs() {
  local rootfs="$1"; shift
  local spec src dest lib
  for spec in "$@"; do
    src="${spec%%:*}"; dest="${spec#*:}"; [ "$dest" = "$spec" ] && dest="$src"
    src="$(readlink -f "$src")"
    mkdir -p "$rootfs$(dirname "$dest")"
    cp -L "$src" "$rootfs$dest"
    for lib in $(ldd "$src" | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
      mkdir -p "$rootfs$(dirname "$lib")"
      cp -L "$lib" "$rootfs$lib"
    done
  done
  mkdir -p "$rootfs/tmp" "$rootfs/etc" && chmod 1777 "$rootfs/tmp"
  echo 'root:x:0:0:root:/root:/sbin/nologin' >"$rootfs/etc/passwd"
  echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
}

# build NAME CONTEXT: tags $image:<hash of the context> and $image:local; skips the build when the hash exists.
build() {
  local image="$1" ctx="$2"
  local hash; hash="$(cd "$ctx" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | sha256sum | cut -c1-12)"
  if docker image inspect "$image:$hash" >/dev/null 2>&1; then
    say "$image:$hash present"
  else
    say "building $image:$hash"
    docker build -q -f "$ctx/Dockerfile.local" -t "$image:$hash" "$ctx" >"$state/build.log" 2>&1 || { tail -n 20 "$state/build.log" >&2; exit 1; }
  fi
  docker tag "$image:$hash" "$image:local"
  prune "$image" "$hash"
}

# prune IMAGE HASH: keeps IMAGE's content tags HASH and the three newest others (a clone built a
# moment ago may be using one) and drops the rest, so that each change of the context does not leave
# 350 MB behind for good; docker refuses to remove an image a container uses, and that one stays
prune() {
  local image="$1" keep="$2" tag
  # newest first, as `docker images` lists them
  docker images "$image" --format '{{.Tag}}' | { grep -vxE "local|$keep|<none>" || true; } | tail -n +4 | while read -r tag; do
    docker rmi "$image:$tag" >/dev/null 2>&1 && say "removed an older $image:$tag" || true
  done
}

images() {
  engine_answers || { echo "images: no docker engine answers: run \`bash tools/images.sh up\` first" >&2; exit 1; }
  # a build folder of its own: two clones building at once do not share one
  work="$(mktemp -d "$cache/images.XXXXXX")"
  trap 'rm -rf "$work"' EXIT

  local tp="$work/toxiproxy"
  mkdir -p "$tp" && cp "$root/images/toxiproxy/Dockerfile.local" "$tp/"
  with_libs "$tp/rootfs" "$here/bin/toxiproxy-server:/usr/bin/toxiproxy-server"
  build "${FAULTLINE_TOXIPROXY_IMAGE_NAME:-faultline/toxiproxy}" "$tp"

  local st="$work/stack"
  mkdir -p "$st/app" && cp "$root/images/stack/Dockerfile.local" "$st/"
  local node; node="$(command -v node)"
  with_libs "$st/rootfs" "$node:/usr/local/bin/node" "$(command -v haproxy)" "$(command -v prometheus)" "$(command -v prometheus-alertmanager)" "$(command -v redis-server)" "$(command -v prometheus-redis-exporter)"
  # Alertmanager's notification templates and Prometheus' web assets live beside the binaries
  mkdir -p "$st/rootfs/usr/share" && cp -r /usr/share/prometheus "$st/rootfs/usr/share/"
  cp -r "$root/bin" "$root/lib" "$root/package.json" "$st/app/"
  # the production dependencies only, as npm resolves them (no dev tools in the image)
  (cd "$root" && npm ls --omit=dev --all --parseable 2>/dev/null | tail -n +2 | sed "s|^$root/||" | sort -u) >"$work/prod-modules"
  # a package nested in one already copied came with it
  awk '{ for (d = $0; sub(/\/[^\/]+$/, "", d);) if (d in seen) next; seen[$0]; print }' "$work/prod-modules" |
    while read -r m; do mkdir -p "$st/app/$(dirname "$m")" && cp -r "$root/$m" "$st/app/$(dirname "$m")/"; done
  build "${FAULTLINE_STACK_IMAGE_NAME:-faultline/stack}" "$st"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  images) images ;;
  *) echo "usage: tools/images.sh up|down|images" >&2; exit 2 ;;
esac
