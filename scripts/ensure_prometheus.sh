#!/usr/bin/env bash
# Make sure .cache/promtool/prometheus (the Prometheus server, from Debian's prometheus package, next
# to promtool) exists and print its path on the last line of stdout. See ensure_promtool.sh.
#
#   prometheus="$(scripts/ensure_prometheus.sh | tail -n1)"
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/ensure_promtool.sh" prometheus
