#!/usr/bin/env bash
# Make sure .cache/promtool/ holds promtool and prometheus, and print one's path on the last line of
# stdout: promtool by default, the Prometheus server with the argument `prometheus`.
#
# Both come from Debian's `prometheus` package. We do not install the package (it would start a
# Prometheus service): `apt-get download` fetches the .deb into a temporary folder and `dpkg-deb -x`
# extracts only usr/bin/promtool and usr/bin/prometheus, with the server's page templates
# (usr/share/prometheus/web, for --web.local-assets: the /targets, /rules, /alerts pages). Runs `apt-get update` first when the package
# is not known to apt yet (fresh machine). Needs root or an apt that may download (CI runs as root).
# Progress goes to stderr; stdout's last line is the binary's path. Concurrent runs wait for each
# other (flock), so a test session and `make run PROMETHEUS=1` never extract over one another.
#
#   promtool="$(scripts/ensure_promtool.sh | tail -n1)"
#   prometheus="$(scripts/ensure_promtool.sh prometheus | tail -n1)"   # or scripts/ensure_prometheus.sh
#   PROMTOOL_DIR=/elsewhere scripts/ensure_promtool.sh                # another cache folder
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${PROMTOOL_DIR:-$root/.cache/promtool}"
wanted="${1:-promtool}"
case "$wanted" in
  promtool | prometheus) ;;
  *) echo "usage: $0 [promtool|prometheus]" >&2; exit 2 ;;
esac
tools=(promtool prometheus)

say() { echo "ensure_promtool: $*" >&2; }

cached() {
  local tool
  for tool in "${tools[@]}"; do
    [[ -x "$dest/$tool" ]] && "$dest/$tool" --version >/dev/null 2>&1 || return 1
  done
  [[ -f "$dest/web/templates/targets.html" ]]
}

mkdir -p "$dest"
exec 9>"$dest/.lock"
flock 9

if cached; then
  say "using cached $dest/$wanted"
  echo "$dest/$wanted"
  exit 0
fi

for tool in apt-get apt-cache dpkg-deb; do
  command -v "$tool" >/dev/null || { say "$tool not found: promtool and prometheus come from Debian's prometheus package"; exit 1; }
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
say "extracting usr/bin/promtool, usr/bin/prometheus and its web assets from $(basename "$deb")"
dpkg-deb -x "$deb" "$work/root"

rm -rf "$dest/web.tmp"
cp -a "$work/root/usr/share/prometheus/web" "$dest/web.tmp"
rm -rf "$dest/web"
mv "$dest/web.tmp" "$dest/web"

for tool in "${tools[@]}"; do
  install -m 0755 "$work/root/usr/bin/$tool" "$dest/$tool.tmp"
  mv -f "$dest/$tool.tmp" "$dest/$tool"
  say "installed $("$dest/$tool" --version 2>&1 | head -n1) at $dest/$tool"
done
echo "$dest/$wanted"
