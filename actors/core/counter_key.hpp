// Names of labelled counters in a `counters` map (actors/core/atoms.hpp): what an
// actor puts in its (stats_atom) answer when one value exists per file, per
// copy or per peer. Two spellings:
//   "lag_bytes{/pg_log/x.log}"                 one bare value; the metric
//                                              catalog says which label it
//                                              is (for the tailer: file)
//   "copy_written_bytes{host=\"db1\",file=\"/c/x.log\"}"
//                                              named labels, quoted and
//                                              escaped as Prometheus does
// actors/core/metrics.cpp parses both; the infofile shows the key as it is.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace cc {

/// `value` escaped for a quoted label: backslash, double quote, newline.
inline std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// "name{k1=\"v1\",k2=\"v2\"}", the labels in the order given.
inline std::string
counter_key(std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::string out{name};
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  out += '}';
  return out;
}

} // namespace cc
