#!/usr/bin/env bash
# The example Prometheus alert rules (ctest conf:alerts): promtool checks
# their syntax and runs their unit tests (each alert fires on the series
# that should make it fire, not before its `for`). That they name only
# metrics ccserver exports is checked by actor_tests ([dashboards]).
#   bash tests/package/alerts_test.sh SOURCE_DIR
set -euo pipefail
src=$1
command -v promtool >/dev/null ||
  { echo "alerts_test: promtool not installed (Debian: prometheus; bash .ci/setup)" >&2; exit 77; }
cd "$src/conf/prometheus"
promtool check rules ccserver-alerts.yml
promtool test rules ccserver-alerts.test.yml
