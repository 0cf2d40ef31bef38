#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of tests/fuzz/ (issue 10).
#
#   run.sh build DIR [CLANGXX]        configure (clang++) and build into DIR
#   run.sh short DIR TARGET...        the test form: every regression input,
#                                     every seed, then a fixed 20000 runs
#                                     (at most 30 s) from a fixed seed
#   run.sh long DIR SECONDS TARGET... fuzz for SECONDS each, keeping the grown
#                                     corpus in DIR/corpus/TARGET and crashes
#                                     in DIR/artifacts/TARGET
#
# TARGET is one of: frames bodies base64 gzip bzip2 zstd config dest_path, or
# "all". Exit status: 0 when every target passed, 1 on any crash, leak,
# timeout or sanitizer report (its input is named in the output).
# FUZZ_RUNS and FUZZ_MAX_TIME change the short form's bounds; FUZZ_ARGS adds
# libFuzzer options to both forms (e.g. FUZZ_ARGS="-jobs=2 -workers=2").
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
all_targets=(frames bodies base64 gzip bzip2 zstd config dest_path)

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

targets_of() {
  if [ "$#" -eq 0 ] || [ "$1" = all ]; then
    echo "${all_targets[@]}"
  else
    echo "$@"
  fi
}

# libFuzzer options shared by both forms: a slow input (20 s) is a failure,
# sanitizer reports carry stacks, UBSan findings already abort (-fno-sanitize-
# recover); dictionaries where a target has one.
common_args() {
  local target="$1"
  local args=(-timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
  if [ -f "$here/dicts/$target.dict" ]; then
    args+=("-dict=$here/dicts/$target.dict")
  fi
  echo "${args[@]}"
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

cmd_build() {
  local dir="$1" cxx="${2:-clang++}"
  cmake -S "$here" -B "$dir" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
  cmake --build "$dir" -j"${FUZZ_BUILD_JOBS:-2}"
}

binary_of() {
  local dir="$1" target="$2"
  local bin="$dir/fuzz_$target"
  if [ ! -x "$bin" ]; then
    echo "run.sh: no $bin (run: run.sh build $dir)" >&2
    exit 2
  fi
  echo "$bin"
}

cmd_short() {
  local dir="$1"
  shift
  local failed=()
  for target in $(targets_of "$@"); do
    local bin
    bin="$(binary_of "$dir" "$target")"
    echo "== fuzz $target (short)"
    # Every regression input once, by name, so a failure names the file.
    local regressions=()
    if [ -d "$here/regressions/$target" ]; then
      while IFS= read -r -d '' f; do
        regressions+=("$f")
      done < <(find "$here/regressions/$target" -type f ! -name '*.md' -print0 | sort -z)
    fi
    if [ "${#regressions[@]}" -gt 0 ]; then
      if ! "$bin" $(common_args "$target") "${regressions[@]}" 2>&1 | tail -n 40; then
        failed+=("$target(regressions)")
        continue
      fi
      echo "   ${#regressions[@]} regression inputs passed"
    fi
    # A fixed, bounded run from the seeds; new inputs go to a scratch
    # directory (first corpus argument), never into the source tree.
    local scratch
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/cc-fuzz-$target-XXXXXX")"
    local status=0
    "$bin" $(common_args "$target") -seed=1 \
      -runs="${FUZZ_RUNS:-20000}" -max_total_time="${FUZZ_MAX_TIME:-30}" \
      ${FUZZ_ARGS:-} -artifact_prefix="$scratch/" \
      "$scratch" "$here/corpus/$target" >"$scratch.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
      tail -n 60 "$scratch.log"
      echo "   FAILED (status $status); the input is under $scratch/"
      failed+=("$target")
    else
      grep -E '^(#[0-9]+.*(DONE|pulse)|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' \
        "$scratch.log" | tail -n 4 | sed 's/^/   /'
      rm -rf "$scratch"
    fi
    rm -f "$scratch.log"
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    return 1
  fi
  echo "fuzz: passed"
}

cmd_long() {
  local dir="$1" seconds="$2"
  shift 2
  local failed=()
  for target in $(targets_of "$@"); do
    local bin
    bin="$(binary_of "$dir" "$target")"
    local corpus="$dir/corpus/$target" artifacts="$dir/artifacts/$target"
    mkdir -p "$corpus" "$artifacts"
    echo "== fuzz $target for ${seconds}s (corpus $corpus)"
    local status=0
    "$bin" $(common_args "$target") -max_total_time="$seconds" \
      ${FUZZ_ARGS:-} -artifact_prefix="$artifacts/" \
      "$corpus" "$here/corpus/$target" >"$dir/$target.log" 2>&1 || status=$?
    grep -E '^#[0-9]+' "$dir/$target.log" | tail -n 1 | sed 's/^/   /'
    grep -E '^stat::' "$dir/$target.log" | sed 's/^/   /'
    if [ "$status" -ne 0 ]; then
      grep -E 'ERROR|FUZZ_CHECK|SUMMARY|Test unit written|artifact_prefix' \
        "$dir/$target.log" | head -n 20 | sed 's/^/   /'
      echo "   FAILED (status $status): see $dir/$target.log and $artifacts/"
      failed+=("$target")
    fi
  done
  if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    return 1
  fi
  echo "fuzz: passed"
}

[ "$#" -ge 2 ] || usage
case "$1" in
  build) shift; cmd_build "$@" ;;
  short) shift; cmd_short "$@" ;;
  long) [ "$#" -ge 3 ] || usage; shift; cmd_long "$@" ;;
  *) usage ;;
esac
