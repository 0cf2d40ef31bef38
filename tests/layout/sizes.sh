#!/usr/bin/env bash
# Sizes the issue sets for the code (issue 18): no function over 80 lines and
# no .cpp over 700 lines, declarative tables aside. Prints every offender
# and exits 1 when there is one outside the allow-list below; exits 77 (a
# skip for ctest) when Universal Ctags, which finds the functions, is absent.
#
#   sizes.sh [ROOT] [FOLDER...]   folders relative to ROOT (default: every
#                                 source folder); a folder covers its
#                                 subfolders, FOLDER/. only its own files
#
# A function counts from the line of its name to its closing brace (the
# `end:` field of Universal Ctags); a lambda counts inside its function.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
shift || true
cd "$root"
folders=("$@")
((${#folders[@]})) || folders=(base config wire routes actors main)

max_function=80
max_file=700

# Declarative tables, allowed to be long: "file" for a whole .cpp, or
# "file:function" for one function that is a table. Each with its reason.
allowed=(
  # The option schema: every key of every section kind with its type,
  # default, range and documentation, one declaration after another.
  config/schema.cpp
)
is_allowed() {
  local item
  for item in ${allowed[@]+"${allowed[@]}"}; do
    [[ "$item" == "$1" ]] && return 0
  done
  return 1
}

if ! ctags --version 2>/dev/null | grep -q 'Universal Ctags'; then
  echo "sizes: Universal Ctags not found; skipped"
  exit 77
fi

bad=0 files=0 functions=0
while IFS= read -r file; do
  files=$((files + 1))
  if [[ "$file" == *.cpp ]]; then
    n=$(wc -l < "$file")
    if ((n > max_file)); then
      if is_allowed "$file"; then
        echo "sizes: $file: $n lines (allowed: a declarative table)"
      else
        echo "sizes: $file: $n lines, over $max_file"; bad=1
      fi
    fi
  fi
  while IFS=$'\t' read -r n line name; do
    functions=$((functions + 1))
    ((n > max_function)) || continue
    if is_allowed "$file:$name"; then
      echo "sizes: $file:$line $name: $n lines (allowed: a declarative table)"
    else
      echo "sizes: $file:$line $name: $n lines, over $max_function"; bad=1
    fi
  done < <(ctags --c++-kinds=f --fields=+ne --extras=-F -o - "$file" 2>/dev/null |
             awk -F'\t' '{ l = e = ""
                           for (i = 4; i <= NF; i++) {
                             if ($i ~ /^line:/) l = substr($i, 6)
                             if ($i ~ /^end:/) e = substr($i, 5)
                           }
                           if (l != "" && e != "") print e - l + 1 "\t" l "\t" $1 }')
done < <(for folder in "${folders[@]}"; do
           if [[ "$folder" == */. ]]; then
             find "${folder%/.}" -maxdepth 1 -name '*.[ch]pp'
           else
             find "$folder" -name '*.[ch]pp'
           fi
         done | sort)
echo "sizes: $files files, $functions functions checked in ${folders[*]}"
exit $bad
