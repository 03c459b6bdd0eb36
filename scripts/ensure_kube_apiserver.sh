#!/usr/bin/env bash
# Make sure .cache/kube-apiserver/{kube-apiserver,etcd} exist; print the folder on the last stdout line.
#
# confidectl's tests run a real Kubernetes API server (no controllers) on 127.0.0.1. etcd comes from
# Debian's `etcd-server` package, extracted with `apt-get download` + `dpkg-deb -x` (installing it
# would start a service). kube-apiserver is built from the k8s.io/kubernetes Go module: `go install
# k8s.io/kubernetes/cmd/kube-apiserver@v1.34.4` is refused ("The go.mod file for the module providing
# named packages contains one or more replace directives"), because its go.mod points the k8s.io/*
# staging modules at ./staging, which the module zip does not contain. So the module is copied, those
# replace lines are pointed at the published staging modules of the same release (v0.34.4), and
# cmd/kube-apiserver is built in the copy. The first build takes a while (minutes on 2 cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${KUBE_APISERVER_DIR:-$root/.cache/kube-apiserver}"
version="${KUBE_VERSION:-1.34.4}"
say() { echo "ensure_kube_apiserver: $*" >&2; }
mkdir -p "$dest"
# One build at a time: CI starts this early in the background and the test fixture waits here.
exec 9>"$dest/.lock"
flock 9

if ! [[ -x "$dest/etcd" ]]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download etcd-server >&2 2>/dev/null); then
    say "apt-get update (etcd-server not known yet)"
    apt-get update -qq >&2
    (cd "$tmp" && apt-get download etcd-server >&2)
  fi
  dpkg-deb -x "$tmp"/etcd-server_*.deb "$tmp/x"
  install -m 0755 "$tmp/x/usr/bin/etcd" "$dest/etcd"
fi

if ! [[ -x "$dest/kube-apiserver" ]] || [[ "$(cat "$dest/kube-apiserver.version" 2>/dev/null)" != "$version" ]]; then
  command -v go >/dev/null || { say "go is required"; exit 1; }
  dir="$(cd /tmp && go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  build="$dest/src"
  rm -rf "$build"; cp -r "$dir" "$build"; chmod -R u+w "$build"; rm -f "$build/go.work" "$build/go.work.sum"
  sed -i -E "s#^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+#\1\2 => \2 v0.${version#1.}#" "$build/go.mod"
  say "building kube-apiserver v$version (slow the first time)"
  (cd "$build" && GOFLAGS=-mod=mod go build -o "$dest/kube-apiserver" ./cmd/kube-apiserver >&2)
  rm -rf "$build"
  echo "$version" > "$dest/kube-apiserver.version"
fi
echo "$dest"
