#!/usr/bin/env bash
# Make sure .cache/promtool/promtool exists and print its path on the last line of stdout.
#
# promtool (checks and unit-tests Prometheus rules) comes from Debian's `prometheus` package. We do not
# install the package (it would start a Prometheus service): `apt-get download` fetches the .deb into a
# temporary folder and `dpkg-deb -x` extracts only usr/bin/promtool. Runs `apt-get update` first when
# the package is not known to apt yet (fresh machine). Needs root or an apt that may download (CI runs
# as root). Progress goes to stderr; stdout's last line is the binary's path.
#
#   promtool="$(scripts/ensure_promtool.sh | tail -n1)"
#   PROMTOOL_DIR=/elsewhere scripts/ensure_promtool.sh    # another cache folder
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${PROMTOOL_DIR:-$root/.cache/promtool}"
bin="$dest/promtool"

say() { echo "ensure_promtool: $*" >&2; }

if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
  say "using cached $bin"
  echo "$bin"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { say "$tool not found: promtool comes from Debian's prometheus package"; exit 1; }
done

# A package is "known" when apt has a candidate version for it; a fresh machine has empty lists.
# (Read the policy into a variable first: `apt-cache | grep -q` under pipefail fails on SIGPIPE.)
policy="$(apt-cache policy prometheus 2>/dev/null || true)"
if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
  say "prometheus is not in apt's lists yet: running apt-get update"
  apt-get update -qq >&2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
say "downloading Debian package prometheus into $work"
# apt drops privileges to _apt for downloads; a root-owned mktemp folder is not writable for it.
chmod 0777 "$work"
if ! (cd "$work" && apt-get download -qq prometheus >&2); then
  # Lists older than the mirror point at a .deb that is gone: refresh them once and retry.
  say "download failed: running apt-get update and retrying"
  apt-get update -qq >&2
  (cd "$work" && apt-get download -qq prometheus >&2)
fi
deb="$(ls "$work"/prometheus_*.deb)"
say "extracting usr/bin/promtool from $(basename "$deb")"
dpkg-deb -x "$deb" "$work/root"

mkdir -p "$dest"
install -m 0755 "$work/root/usr/bin/promtool" "$bin.tmp"
mv -f "$bin.tmp" "$bin"
say "installed $("$bin" --version 2>&1 | head -n1) at $bin"
echo "$bin"
