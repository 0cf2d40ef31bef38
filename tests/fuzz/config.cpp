// Fuzz target "config": the input as the text of a ccserver config file,
// through config::ini::parse, every key's interpolation, config::validate and
// describe() (what `ccserver --check` does).
//
// Properties: a file that does not parse is config_syntax naming the file;
// every key of a parsed file either interpolates or fails with
// config_invalid naming the file; every diagnostic names the file and says
// something; a config is valid exactly when no diagnostic is an error, and a
// valid one holds only written values its schema accepts (type and range),
// routes only to handlers it has, and describes itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "config/schema.hpp"
#include "fuzz_check.hpp"

using namespace cc::config;
using cc::errc;
using cc_fuzz::code_of;

namespace {

const std::string path = "/etc/cc/fuzz.ini";

void check_interpolation(const ini& doc) {
  for (const auto& s : doc.sections())
    for (const auto& k : doc.keys(s)) {
      FUZZ_CHECK(doc.raw(s, k).has_value() && doc.has(s, k),
                 "keys() lists [" + s + "] " + k + " but raw() has no value");
      auto v = doc.get(s, k);
      if (!v) {
        FUZZ_CHECK(code_of(v.error()) == errc::config_invalid,
                   "interpolation failed with an undocumented code");
        FUZZ_CHECK(cc::describe(v.error()).find(path + ":") !=
                       std::string::npos,
                   "an interpolation error does not name the file: " +
                       cc::describe(v.error()));
      }
    }
}

void check_section(const section& sec) {
  auto schema = schema_by_kind(sec.kind);
  FUZZ_CHECK(schema != nullptr, "a valid config has a section of unknown "
                                "kind '" +
                                    sec.kind + "'");
  for (const auto& [key, value] : sec.values) {
    auto opt = schema->find(key);
    // Type keys are not options; defaults may lie outside the choices on
    // purpose (logtail's operation-mode "" means classic, sent as written).
    if (opt == nullptr || sec.defaulted.count(key) > 0)
      continue;
    std::string why;
    FUZZ_CHECK(check_value(*opt, value, why),
               "[" + sec.name + "] " + key + " = '" + cc_fuzz::shown(value) +
                   "' passed validation but not its schema: " + why);
    double number = 0;
    switch (opt->type) {
    case value_type::integer:
      number = static_cast<double>(sec.integer(key));
      break;
    case value_type::size:
      number = static_cast<double>(sec.size(key));
      break;
    case value_type::seconds:
      number = sec.seconds(key);
      break;
    default:
      continue;
    }
    FUZZ_CHECK(number >= opt->min_value && number <= opt->max_value,
               "[" + sec.name + "] " + key + " = '" + cc_fuzz::shown(value) +
                   "' is outside its schema's range");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto doc = ini::parse(text, path);
  if (!doc) {
    FUZZ_CHECK(code_of(doc.error()) == errc::config_syntax,
               "ini::parse failed with an undocumented code");
    FUZZ_CHECK(cc::describe(doc.error()).find(path + ":") != std::string::npos,
               "a syntax error does not name the file");
    return 0;
  }
  check_interpolation(*doc);
  auto result = validate(*doc);
  bool any_error = false;
  for (const auto& d : result.diagnostics) {
    FUZZ_CHECK(d.str().rfind(path + ":", 0) == 0,
               "a diagnostic does not start with the file: " + d.str());
    FUZZ_CHECK(!d.message.empty(), "a diagnostic with no message");
    any_error = any_error || d.severity == diagnostic::error;
  }
  FUZZ_CHECK(result.ok() != any_error,
             "ok() disagrees with the error diagnostics");
  if (!result.ok())
    return 0;
  const auto& cfg = *result.config;
  FUZZ_CHECK(cfg.main.kind == "ccserver", "the main section is not ccserver");
  check_section(cfg.main);
  for (const auto& [name, sec] : cfg.handlers)
    check_section(sec);
  for (const auto& [name, sec] : cfg.daemons)
    check_section(sec);
  for (const auto& r : cfg.routes)
    for (const auto& h : r.handlers)
      FUZZ_CHECK(cfg.handlers.count(h) == 1,
                 "route " + r.prefix +
                     " names a handler the config lacks: " + h);
  FUZZ_CHECK(describe(cfg).rfind("config file: " + path, 0) == 0,
             "describe() does not start with the file");
  return 0;
}
