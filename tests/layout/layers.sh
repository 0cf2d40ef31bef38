#!/usr/bin/env bash
# The folders' layers: a file may include its own folder's headers and those
# of lower layers, never a higher layer's nor a sibling's of the same layer.
# Fails (exit 1) naming every include that points up or sideways.
#
#   0 base            error type, logger, thread names, hashes
#   1 config  wire    configuration; the CC message codec
#   2 routes          route table
#   3 actors/core     router, echo, jobmgr, locallogger, stats, status, HTTP
#   4 actors/link     ZeroMQ, CURVE/ZAP, CAF links, gateway, forwarder
#   5 actors/tail     tailer, infosender (sending side)
#   6 actors/write    tailwriter, infowriter (receiving side; uses link's
#                     host binding, never tail)
#   7 actors          spawn: builds every kind; the server's actor tree
#   8 main            the ccserver program
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

rank() {
  case "$1" in
    base) echo 0 ;;
    config|wire) echo 1 ;;
    routes) echo 2 ;;
    actors/core) echo 3 ;;
    actors/link) echo 4 ;;
    actors/tail) echo 5 ;;
    actors/write) echo 6 ;;
    actors) echo 7 ;;
    main) echo 8 ;;
    *) echo "" ;;
  esac
}
# tail and write are siblings: neither may include the other.
sibling() { [[ "$1:$2" == actors/tail:actors/write || "$1:$2" == actors/write:actors/tail ]]; }

bad=0 checked=0
while IFS= read -r file; do
  from=$(dirname "$file")
  rf=$(rank "$from")
  [[ -n "$rf" ]] || { echo "layers: $file: folder $from has no layer (add it to $0)"; bad=1; continue; }
  while IFS= read -r line; do
    inc=${line#*\"}; inc=${inc%%\"*}
    to=$(dirname "$inc")
    rt=$(rank "$to")
    checked=$((checked + 1))
    if [[ -z "$rt" ]]; then
      echo "layers: $file includes \"$inc\": folder $to has no layer"; bad=1
    elif [[ "$to" != "$from" ]] && { (( rt > rf )) || (( rt == rf )) || sibling "$from" "$to"; }; then
      echo "layers: $file ($from, layer $rf) includes \"$inc\" ($to, layer $rt): dependencies point down only"
      bad=1
    fi
  done < <(grep -E '^#include "' "$file" || true)
done < <(find base config wire routes actors main -name '*.[ch]pp' | sort)
echo "layers: $checked includes checked"
exit $bad
