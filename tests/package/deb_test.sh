#!/usr/bin/env bash
# The Debian package (ctest package:deb): builds it with CPack from this
# build tree into a scratch directory and checks what an operator gets:
# every file in its place, /etc files as conffiles, maintainer scripts that
# make the cc user and its directories, dependencies from dpkg-shlibdeps, a
# binary that runs, valid shipped configurations, a man page man(1) renders
# without warnings, and no lintian error.
#   bash tests/package/deb_test.sh BUILD_DIR SOURCE_DIR VERSION
set -euo pipefail
build=$1
src=$2
version=$3

fail() { echo "deb_test: FAIL: $*" >&2; exit 1; }
out=$(mktemp -d "${TMPDIR:-/tmp}/ccdeb-XXXXXX")
trap 'rm -rf "$out"' EXIT

(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) ||
  { cat "$out/cpack.log" >&2; fail "cpack -G DEB"; }
deb=$(ls "$out"/ccserver_"$version"_*.deb) || fail "no ccserver_${version}_*.deb"
echo "deb_test: built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

# -- contents ---------------------------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$out/contents"
has() { grep -q " $1\$" "$out/contents" || fail "missing $1"; }
for f in ./usr/sbin/ccserver ./lib/systemd/system/ccserver@.service \
         ./etc/cc/central.ini ./etc/cc/local.ini ./etc/logrotate.d/ccserver \
         ./usr/share/man/man8/ccserver.8.gz \
         ./usr/share/doc/ccserver/copyright ./usr/share/doc/ccserver/changelog.gz \
         ./usr/share/doc/ccserver/README.md ./usr/share/doc/ccserver/operations.md \
         ./usr/share/doc/ccserver/config.md \
         ./usr/share/doc/ccserver/examples/ccserver-dashboard.json \
         ./usr/share/doc/ccserver/examples/ccserver-alerts.yml; do
  has "$f"
done
grep -q '^-rwxr-xr-x root/root ./usr/sbin/ccserver$' "$out/contents" ||
  fail "ccserver is not 0755 root:root"
if grep -v ' root/root ' "$out/contents"; then fail "files not owned by root"; fi
if grep -E ' \./(tmp|home|usr/local|build)' "$out/contents"; then fail "stray paths"; fi

# -- control ----------------------------------------------------------------------
dpkg-deb -e "$deb" "$out/control"
diff <(sort "$out/control/conffiles") \
     <(grep -E '^-' "$out/contents" | awk '{print $3}' | grep '^\./etc/' | sed 's/^\.//' | sort) ||
  fail "conffiles is not exactly the files under /etc"
[ "$(dpkg-deb -f "$deb" Package)" = ccserver ] || fail "Package"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version"
depends=$(dpkg-deb -f "$deb" Depends)
for d in adduser libcaf-core0.17 libzmq5 libmicrohttpd12 libinih1; do
  grep -q "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
for s in postinst prerm postrm; do
  [ -x "$out/control/$s" ] || fail "$s is not executable"
  sh -n "$out/control/$s" || fail "$s: syntax"
done
grep -q 'adduser --system --group --home /var/lib/cc' "$out/control/postinst" ||
  fail "postinst does not make the cc system user"
grep -q 'install -d -o cc -g cc -m 0750 "$dir"' "$out/control/postinst" &&
  grep -q 'for dir in /var/lib/cc /var/log/cc' "$out/control/postinst" ||
  fail "postinst does not make /var/lib/cc and /var/log/cc for cc"
grep -q 'rm -rf /var/log/cc' "$out/control/postrm" || fail "postrm keeps the logs on purge"
if grep -v '^#' "$out/control/postrm" | grep -q '/var/lib/cc'; then fail "postrm touches /var/lib/cc (data)"; fi

# -- what is inside works -----------------------------------------------------------
dpkg-deb -x "$deb" "$out/root"
bin="$out/root/usr/sbin/ccserver"
"$bin" --version | grep -qx "ccserver $version" || fail "--version"
file_out=$(file -b "$bin" 2>/dev/null || true)
if [ -n "$file_out" ] && grep -q 'not stripped' <<<"$file_out"; then fail "binary not stripped"; fi
for ini in central local; do
  "$bin" --check "$out/root/etc/cc/$ini.ini" >/dev/null 2>"$out/check-$ini" ||
    { cat "$out/check-$ini" >&2; fail "/etc/cc/$ini.ini does not pass --check"; }
done
grep -q '^http-listen = 127\.0\.0\.1:' "$out/root/etc/cc/central.ini" || fail "central.ini: http-listen not on loopback"
grep -q '^http-listen = 127\.0\.0\.1:' "$out/root/etc/cc/local.ini" || fail "local.ini: http-listen not on loopback"
if command -v man >/dev/null; then
  warnings=$(MANWIDTH=80 man --warnings -l "$out/root/usr/share/man/man8/ccserver.8.gz" 2>&1 >"$out/man.txt")
  [ -z "$warnings" ] || fail "man --warnings: $warnings"
  grep -Eq 'ccserver +- +ship +growing' "$out/man.txt" || fail "man page NAME"
  grep -q 'health-link-timeout' "$out/man.txt" || fail "man page lacks the schema's options"
  grep -q -- '--status' "$out/man.txt" || fail "man page lacks --status"
fi
grep -q 'postrotate' "$out/root/etc/logrotate.d/ccserver" || fail "logrotate snippet"
if command -v logrotate >/dev/null; then
  # The syntax, checked by logrotate itself (the cc user exists only where
  # the package is installed: root stands in for it here).
  sed 's/ cc cc$/ root root/' "$out/root/etc/logrotate.d/ccserver" >"$out/logrotate.conf"
  logrotate --debug --state "$out/logrotate.state" "$out/logrotate.conf" >"$out/logrotate.log" 2>&1 ||
    { cat "$out/logrotate.log" >&2; fail "logrotate does not accept the snippet"; }
  if grep -q '^error' "$out/logrotate.log"; then cat "$out/logrotate.log" >&2; fail "logrotate"; fi
fi

# -- lintian ------------------------------------------------------------------------
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" >"$out/lintian.log" 2>&1 ||
    { cat "$out/lintian.log" >&2; fail "lintian reports errors"; }
  grep '^[EW]:' "$out/lintian.log" || true
else
  echo "deb_test: lintian not installed (bash .ci/setup installs it)" >&2
  exit 77
fi
echo "deb_test: ok"
