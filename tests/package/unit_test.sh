#!/usr/bin/env bash
# The systemd unit (ctest package:unit): `systemd-analyze verify` accepts
# conf/systemd/ccserver@.service as an instance, with its ExecStart pointed
# at this build's binary (verify wants it to exist), and prints nothing.
#   bash tests/package/unit_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
command -v systemd-analyze >/dev/null || { echo "unit_test: no systemd-analyze" >&2; exit 77; }
out=$(mktemp -d "${TMPDIR:-/tmp}/ccunit-XXXXXX")
trap 'rm -rf "$out"' EXIT
sed "s|/usr/sbin/ccserver|$build/ccserver|" "$src/conf/systemd/ccserver@.service" \
  >"$out/ccserver@.service"
ln -s ccserver@.service "$out/ccserver@central.service"
report=$(systemd-analyze verify --man=no "$out/ccserver@central.service" 2>&1) ||
  { echo "$report" >&2; echo "unit_test: FAIL: systemd-analyze verify" >&2; exit 1; }
if [ -n "$report" ]; then
  echo "$report" >&2
  echo "unit_test: FAIL: systemd-analyze verify has something to say" >&2
  exit 1
fi
grep -q '^Type=notify$' "$src/conf/systemd/ccserver@.service" || { echo "not Type=notify" >&2; exit 1; }
grep -q '^WatchdogSec=' "$src/conf/systemd/ccserver@.service" || { echo "no WatchdogSec" >&2; exit 1; }
echo "unit_test: ok"
